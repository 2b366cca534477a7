/**
 * One outgoing link to one peer: messages queue here and leave as one msgpack request per
 * flush, one request in flight at a time (so order is kept and a slow peer only delays itself).
 * Snapshots leave on their own path in chunks, each awaited before the next (back-pressure).
 */

import type { Logger } from 'pino';
import { Pool } from 'undici';
import type { Message } from '../raft/types.js';
import { peerAuthHeader, peerMac } from './peer-auth.js';
import { encodeBatch, encodeSnapshotChunk, type GroupMessage, wireVersion } from './wire.js';

export interface PeerLinkOptions {
  readonly clusterId: string;
  readonly self: string;
  readonly peer: string;
  readonly url: string;
  readonly requestTimeoutMs: number;
  /** Most messages waiting for this peer; past it new messages are dropped (Raft resends). */
  readonly queueMessagesMax: number;
  /** Most messages in one request. */
  readonly batchMessagesMax: number;
  readonly snapshotChunkBytes: number;
  /** The cluster secret; every request carries its MAC (peer-auth.ts). */
  readonly secret: string;
  /** For an https peer: the CA its certificate chains to, and our own certificate for mutual TLS. */
  readonly tls?:
    | { readonly ca?: Buffer | undefined; readonly cert: Buffer; readonly key: Buffer }
    | undefined;
  readonly log: Logger;
}

export const batchPath = '/raft/v1/batch';
export const snapshotPath = '/raft/v1/snapshot';
export const claimPath = '/raft/v1/claim';

export class PeerLink {
  readonly #o: PeerLinkOptions;
  readonly #pool: Pool;
  #queue: GroupMessage[] = [];
  #flushing = false;
  #closed = false;
  #reachable = true;
  /** Groups with a snapshot on its way to this peer; a second one for the same group waits for the next try. */
  readonly #snapshotsInFlight = new Set<number>();

  constructor(o: PeerLinkOptions) {
    this.#o = o;
    this.#pool = new Pool(o.url, {
      connections: 2,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      ...(o.tls === undefined ? {} : { connect: { ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key } }),
    });
  }

  enqueue(msgs: readonly GroupMessage[]): void {
    if (this.#closed) return;
    for (const gm of msgs) {
      if (gm.msg.type === 'snapshot') void this.#sendSnapshot(gm.group, gm.msg);
      else if (this.#queue.length < this.#o.queueMessagesMax) this.#queue.push(gm);
    }
    if (!this.#flushing && this.#queue.length > 0) void this.#flush();
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    while (this.#queue.length > 0 && !this.#closed) {
      const msgs = this.#queue.splice(0, this.#o.batchMessagesMax);
      const body = encodeBatch({ v: wireVersion, cluster: this.#o.clusterId, from: this.#o.self, msgs });
      await this.#post(batchPath, body);
    }
    this.#flushing = false;
  }

  async #post(path: string, body: Uint8Array): Promise<boolean> {
    try {
      const res = await this.#pool.request({
        method: 'POST',
        path,
        body,
        headers: {
          'content-type': 'application/msgpack',
          [peerAuthHeader]: peerMac(this.#o.secret, path, body),
        },
        headersTimeout: this.#o.requestTimeoutMs,
        bodyTimeout: this.#o.requestTimeoutMs,
      });
      await res.body.dump();
      if (res.statusCode === 401)
        throw new Error('peer refused our MAC (401): the nodes do not share one cluster secret');
      if (res.statusCode >= 300) throw new Error(`peer answered ${res.statusCode}`);
      this.#markReachable(true, null);
      return true;
    } catch (err) {
      this.#markReachable(false, err as Error);
      return false;
    }
  }

  #markReachable(reachable: boolean, err: Error | null): void {
    if (reachable === this.#reachable) return;
    this.#reachable = reachable;
    if (reachable) this.#o.log.info({ peer: this.#o.peer }, 'peer reachable again');
    else
      this.#o.log.warn(
        { peer: this.#o.peer, err: err?.message },
        'peer unreachable; messages to it are dropped',
      );
  }

  async #sendSnapshot(group: number, msg: Extract<Message, { type: 'snapshot' }>): Promise<void> {
    if (this.#snapshotsInFlight.has(group)) return;
    this.#snapshotsInFlight.add(group);
    try {
      const { data, meta } = msg.snapshot;
      const header = { from: msg.from, to: msg.to, term: msg.term, meta };
      const step = this.#o.snapshotChunkBytes;
      for (let offset = 0; offset === 0 || offset < data.byteLength; offset += step) {
        const chunk = data.subarray(offset, offset + step);
        const done = offset + step >= data.byteLength;
        const body = encodeSnapshotChunk({
          v: wireVersion,
          cluster: this.#o.clusterId,
          from: this.#o.self,
          group,
          header,
          offset,
          total: data.byteLength,
          chunk,
          done,
        });
        if (!(await this.#post(snapshotPath, body)) || this.#closed) return;
      }
      this.#o.log.info(
        { peer: this.#o.peer, group, index: meta.index, bytes: data.byteLength },
        'snapshot sent',
      );
    } finally {
      this.#snapshotsInFlight.delete(group);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#queue = [];
    await this.#pool.destroy();
  }
}
