/**
 * How a node stops: cleanly on SIGTERM (hand leadership over while still serving, then stop
 * ticking, finish the running turn, fail waiting clients, close transport and store), or at once
 * when its disk failed (nothing more is stepped or acknowledged).
 */

import type { Logger } from 'pino';
import type { NodeId } from '../raft/types.js';
import type { RaftStore } from '../storage/raft-store.js';
import type { Transport } from '../transport/transport.js';
import type { Clock } from './clock.js';
import type { DriveLoop } from './drive-loop.js';
import type { AnyGroup } from './group.js';
import { leadershipGone } from './leader-waits.js';

export interface ShutdownDeps {
  /** The node's replicas; read anew at each use (replicas come and go). */
  readonly groups: Iterable<AnyGroup>;
  readonly loop: DriveLoop;
  readonly transport: Transport;
  readonly store: RaftStore;
  readonly clock: Clock;
  readonly log: Logger;
  /** Stops the node's tick timer. */
  readonly stopTicking: () => void;
}

export class Shutdown {
  readonly #d: ShutdownDeps;
  #handingOver = false;
  #stopped = false;
  #failure: Error | null = null;
  /** Groups whose leadership this node handed over when stopping, and to whom. */
  readonly #handedTo = new Map<number, NodeId>();

  constructor(deps: ShutdownDeps) {
    this.#d = deps;
  }

  /** While handing over, the node refuses to take leadership back (it ignores TimeoutNow). */
  get handingOver(): boolean {
    return this.#handingOver;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** The storage failure that stopped the node, or null. */
  get failure(): Error | null {
    return this.#failure;
  }

  /** Whom this node handed `shard`'s leadership to while stopping (it no longer hears the new leader). */
  handedTo(shard: number): NodeId | null {
    return this.#handedTo.get(shard) ?? null;
  }

  /**
   * First half of SIGTERM: hand leadership of every group we lead to its most up-to-date other
   * member and wait (at most `waitMs`) until it moved. Meanwhile the node keeps serving and
   * forwarding.
   */
  async handOver(waitMs: number): Promise<void> {
    this.#handingOver = true;
    for (const g of this.#d.groups) {
      const target = g.bestTransferee();
      if (target !== null && g.raft.transferLeadership(target).ok) {
        this.#handedTo.set(g.id, target);
        g.observer.transferNoted();
      }
    }
    this.#d.loop.schedule();
    await leadershipGone(this.#d.groups, waitMs, this.#d.clock);
  }

  /**
   * Second half: stop ticking and taking messages, let the running turn finish (so what it
   * persisted is on disk), fail every waiting client, close the transport and the store.
   */
  async shutdown(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#d.stopTicking();
    await this.#d.loop.stop();
    for (const g of this.#d.groups) g.waiters.failAll();
    await this.#d.transport.close();
    await this.#d.store.close();
    this.#d.log.info('node stopped');
  }

  /**
   * The drive loop could not persist a Ready (a write or fsync failed): what this node holds in
   * memory is ahead of its disk. It stops at once: no more ticks or peer messages (so no votes,
   * no elections, and as leader no heartbeats: the other members elect a new leader), every
   * waiting client fails (a write's outcome is unknown: its entries may have reached a quorum
   * through the followers), and `onFatal` decides how the process ends.
   */
  storageFailed(err: Error, onFatal: (err: Error) => void): void {
    this.#failure = err;
    this.#d.stopTicking();
    for (const g of this.#d.groups) g.waiters.failAll('this node could not persist it');
    onFatal(err);
  }
}
