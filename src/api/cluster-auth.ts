/**
 * The credential one node puts on a request it makes of another node's API for the cluster
 * (moving replicas, a node joining): an HMAC-SHA256 keyed with the cluster secret over the
 * method, the path and the time, checked in constant time and accepted for five minutes either
 * side of the receiver's clock. It counts as a read-write token, so the cluster's own changes
 * work when API tokens are on; a node without the secret cannot make one.
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { clusterAuthHeader } from '../protocol/index.js';

/** How far a credential's time may be from the receiver's clock. */
export const clusterAuthSkewMs = 5 * 60_000;

function mac(secret: string, method: string, path: string, atMs: number): string {
  return createHmac('sha256', secret).update(`${method} ${path}\n${atMs}`).digest('hex');
}

/** Makes credentials for requests to other nodes; without a secret, none (an open API needs none). */
export class ClusterAuth {
  readonly #secret: string | null;

  constructor(secret: string | null) {
    this.#secret = secret;
  }

  /** The header to send with `method path`, or an empty object when there is no secret. */
  headers(method: string, path: string, nowMs = Date.now()): Record<string, string> {
    if (this.#secret === null) return {};
    return { [clusterAuthHeader]: `${nowMs}.${mac(this.#secret, method, path, nowMs)}` };
  }

  /** Whether `value` (the header as received) is a valid credential for `method path`. */
  valid(method: string, path: string, value: unknown, nowMs = Date.now()): boolean {
    if (this.#secret === null || typeof value !== 'string') return false;
    const m = /^([0-9]{1,15})\.([0-9a-f]{64})$/.exec(value);
    if (m === null) return false;
    const at = Number(m[1]);
    if (Math.abs(nowMs - at) > clusterAuthSkewMs) return false;
    return timingSafeEqual(
      Buffer.from(mac(this.#secret, method, path, at), 'hex'),
      Buffer.from(m[2]!, 'hex'),
    );
  }
}
