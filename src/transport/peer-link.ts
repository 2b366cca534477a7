/**
 * One outgoing link to one peer. Messages and calls queue here and leave, once per event-loop
 * turn, as one frame on the peer stream (peer-stream.ts), which the link opens when it first has
 * something to send and again after it closed. A full socket makes the link wait for it to drain
 * (so order is kept and a slow peer only delays itself). A peer that answers the stream's Upgrade
 * with 404 (a node without streams) gets messages as one msgpack request per flush instead, one
 * request in flight at a time, for a while before the stream is tried again. Snapshots leave on
 * their own path as requests, in chunks, each awaited before the next (back-pressure).
 */

import type { Logger } from 'pino';
import { Pool } from 'undici';
import type { Message } from '../raft/types.js';
import { peerAuthHeader, peerMac } from './peer-auth.js';
import type { PeerPresence } from './peer-presence.js';
import { endedByPeer, FrameSocket } from './peer-stream.js';
import { CallNotSentError, PendingCalls } from './pending-calls.js';
import { openStream } from './stream-opener.js';
import {
  decodeFrame,
  encodeBatch,
  encodeFrame,
  encodeSnapshotChunk,
  type GroupMessage,
  type PeerNotice,
  type StreamAnswer,
  type StreamCall,
  type StreamFrame,
  wireVersion,
} from './wire.js';

export { CallFailedError, CallLostError, CallNotSentError } from './pending-calls.js';

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
  /** Largest answer frame taken from the peer. */
  readonly frameBytesMax: number;
  /** A stream silent this long is dropped. */
  readonly idleMs: number;
  /** How long a peer that has no streams (404 to the Upgrade) gets requests before the stream is tried again. */
  readonly postOnlyMs: number;
  /** Hears when our stream to the peer opens and ends. */
  readonly presence?: PeerPresence | undefined;
  /**
   * Runs `fn` once the current event-loop turn's I/O is done, so what one turn queues leaves
   * together; setImmediate unless the node's clock says otherwise (LoopClock.soon).
   */
  readonly soon?: ((fn: () => void) => void) | undefined;
}

export const batchPath = '/raft/v1/batch';
export const snapshotPath = '/raft/v1/snapshot';
export const claimPath = '/raft/v1/claim';

export class PeerLink {
  readonly #o: PeerLinkOptions;
  readonly #pool: Pool;
  #queue: GroupMessage[] = [];
  #calls: StreamCall[] = [];
  #answers: StreamAnswer[] = [];
  #notices: PeerNotice[] = [];
  readonly #pending: PendingCalls;
  #stream: FrameSocket | null = null;
  #opening = false;
  #postOnlyUntil = 0;
  #scheduled = false;
  #flushing = false;
  #closed = false;
  #reachable = true;
  /** Groups with a snapshot on its way to this peer; a second one for the same group waits for the next try. */
  readonly #snapshotsInFlight = new Set<number>();

  constructor(o: PeerLinkOptions) {
    this.#o = o;
    this.#pending = new PendingCalls(o.peer);
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
    if (this.#queue.length > 0) this.#schedule();
  }

  /**
   * Sends `payload` to the peer's call handler and resolves with its answer. Rejects with
   * CallNotSentError at once when no stream is open (one is opened for the next call), with
   * CallLostError when the answer does not come within `timeoutMs` or the stream closes first,
   * with CallFailedError when the peer could not handle it.
   */
  call(payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.#closed || this.#stream === null) {
      if (!this.#closed) this.#schedule();
      return Promise.reject(new CallNotSentError(`no open stream to ${this.#o.peer}`));
    }
    const { id, answer } = this.#pending.add(timeoutMs);
    this.#calls.push({ id, payload });
    this.#schedule();
    return answer;
  }

  /**
   * Sends the answer to a call the peer made (on its own stream to us) with what this link sends
   * anyway: a leader's answers leave with the appends of the same turn. False when no stream is
   * open; the caller then answers on the peer's stream.
   */
  answer(a: StreamAnswer): boolean {
    if (this.#closed || this.#stream === null) return false;
    this.#answers.push(a);
    this.#schedule();
    return true;
  }

  /** Tells the peer something about this node, with the next frame (a stream is opened for it). */
  notify(notice: PeerNotice): void {
    if (this.#closed) return;
    this.#notices.push(notice);
    this.#schedule();
  }

  /** Whether a stream to the peer is open now: it answered our Upgrade and has not gone away since. */
  get up(): boolean {
    return this.#stream !== null;
  }

  /** Answers to this node's calls that came on the peer's own stream to us. */
  takeAnswers(answers: readonly StreamAnswer[]): void {
    this.#pending.settle(answers);
  }

  // Everything queued in one turn of the event loop leaves together.
  #schedule(): void {
    if (this.#scheduled || this.#flushing) return;
    this.#scheduled = true;
    (this.#o.soon ?? setImmediate)(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    if (this.#closed || this.#flushing) return;
    if (this.#stream === null) {
      if (Date.now() < this.#postOnlyUntil) return this.#flushRequests();
      if (!this.#opening) void this.#open();
      return;
    }
    this.#flushing = true;
    try {
      while (!this.#closed && this.#stream !== null && this.#waiting()) {
        const stream = this.#stream;
        if (!stream.write(encodeFrame(this.#takeFrame()))) await stream.drained();
      }
    } finally {
      this.#flushing = false;
    }
    // The stream closed while it drained: what is left goes on the next one.
    if (!this.#closed && this.#waiting()) this.#schedule();
  }

  /** What waits, as one frame: at most a batch of messages, and every call, answer and notice. */
  #takeFrame(): StreamFrame {
    const frame = {
      msgs: this.#queue.splice(0, this.#o.batchMessagesMax),
      calls: this.#calls,
      answers: this.#answers,
      notices: this.#notices,
    };
    this.#calls = [];
    this.#answers = [];
    this.#notices = [];
    return frame;
  }

  #waiting(): boolean {
    return (
      this.#queue.length > 0 || this.#calls.length > 0 || this.#answers.length > 0 || this.#notices.length > 0
    );
  }

  async #open(): Promise<void> {
    this.#opening = true;
    const opened = await openStream({
      url: this.#o.url,
      clusterId: this.#o.clusterId,
      self: this.#o.self,
      secret: this.#o.secret,
      timeoutMs: this.#o.requestTimeoutMs,
      tls: this.#o.tls,
    });
    this.#opening = false;
    if (opened.kind === 'open') {
      if (this.#closed) {
        opened.socket.destroy();
        return;
      }
      this.#stream = new FrameSocket(opened.socket, opened.head, {
        key: opened.key,
        end: 'opener',
        frameBytesMax: this.#o.frameBytesMax,
        idleMs: this.#o.idleMs,
        onFrame: (body) => this.#answered(body),
        onClose: (reason) => this.#streamClosed(reason),
      });
      this.#o.presence?.outgoingOpen(this.#o.peer);
      this.#markReachable(true, null);
      void this.#flush();
      return;
    }
    if (opened.kind === 'refused' && opened.status === 404) {
      this.#o.log.info({ peer: this.#o.peer }, 'peer has no peer stream; sending it requests');
      this.#postOnlyUntil = Date.now() + this.#o.postOnlyMs;
      void this.#flush();
      return;
    }
    if (opened.kind === 'unreachable')
      this.#o.presence?.outgoingLost(this.#o.peer, endedByPeer(opened.reason));
    // Unreachable or refused: what waited is dropped (Raft resends); the next send tries again.
    this.#queue = [];
    this.#failQueuedCalls(`${this.#o.peer} unreachable`);
    const why =
      opened.kind === 'refused'
        ? opened.status === 401
          ? 'peer refused our MAC (401): the nodes do not share one cluster secret'
          : `peer refused the stream (${opened.status})`
        : opened.reason;
    this.#markReachable(false, new Error(why));
  }

  #answered(body: Uint8Array): void {
    const decoded = decodeFrame(body, { messagesMax: Number.MAX_SAFE_INTEGER });
    if (!decoded.ok) {
      this.#o.log.warn({ peer: this.#o.peer, reason: decoded.reason }, 'malformed frame from peer');
      this.#stream?.close();
      return;
    }
    this.takeAnswers(decoded.value.answers);
  }

  #streamClosed(reason: string | null): void {
    this.#stream = null;
    this.#o.presence?.outgoingLost(this.#o.peer, endedByPeer(reason));
    // Calls not yet written never left; the others may have been handled.
    this.#failQueuedCalls('the stream closed first');
    // Answers not yet written are lost with the stream: their callers learn it by their deadline.
    this.#answers = [];
    const lost = this.#pending.size;
    this.#pending.lose();
    if (reason !== null && !this.#closed)
      this.#o.log.info({ peer: this.#o.peer, reason, lostCalls: lost }, 'peer stream closed');
    if (this.#queue.length > 0) this.#schedule();
  }

  /** The calls not yet written never leave: they fail as not sent, saying `why`. */
  #failQueuedCalls(why: string): void {
    this.#pending.fail(
      this.#calls.map((c) => c.id),
      (id) => new CallNotSentError(`call ${id}: ${why}`),
    );
    this.#calls = [];
  }

  // A peer without streams: one request per batch, one in flight at a time.
  async #flushRequests(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const msgs = this.#queue.splice(0, this.#o.batchMessagesMax);
        const body = encodeBatch({ v: wireVersion, cluster: this.#o.clusterId, from: this.#o.self, msgs });
        await this.#post(batchPath, body);
      }
    } finally {
      this.#flushing = false;
    }
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
    // Calls would get no answer now; what else waits (a stopping node's last answers and
    // messages) leaves before the stream ends.
    this.#failQueuedCalls('the link closed first');
    const stream = this.#stream;
    if (stream !== null && this.#waiting()) stream.write(encodeFrame(this.#takeFrame()));
    stream?.finish();
    this.#closed = true;
    this.#queue = [];
    this.#stream?.close();
    this.#pending.lose();
    await this.#pool.destroy();
  }
}
