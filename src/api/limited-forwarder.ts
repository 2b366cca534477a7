/**
 * A Forwarder whose every relayed request holds a slot of the node's in-flight cap while it waits
 * for the leader's answer: a node flooded with requests for shards it does not lead refuses them
 * (503, nothing done) instead of queueing them without bound in its connection pools.
 */

import type { InFlightLimit } from '../node/index.js';
import { type Forwarded, Forwarder } from './forward.js';

export class LimitedForwarder extends Forwarder {
  readonly #limit: InFlightLimit;

  constructor(limit: InFlightLimit, ...args: ConstructorParameters<typeof Forwarder>) {
    super(...args);
    this.#limit = limit;
  }

  /** As Forwarder.forward(); at the cap throws `unavailable` before anything is sent. */
  override forward(api: string, req: Parameters<Forwarder['forward']>[1]): Promise<Forwarded> {
    return this.#limit.run(() => super.forward(api, req));
  }
}
