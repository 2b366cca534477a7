/**
 * The HTTP transport: one PeerLink per peer node, each with its peer stream. send() sorts a
 * drive-loop turn's messages by destination, so all messages for one peer in one turn leave in
 * one frame; call() carries a node's call to a peer on the same stream.
 */

import type { Logger } from 'pino';
import { peerTimeouts } from './peer-limits.js';
import { CallNotSentError, PeerLink, type PeerLinkOptions } from './peer-link.js';
import type { PeerPresence } from './peer-presence.js';
import type { Transport } from './transport.js';
import type { GroupMessage, PeerNotice, StreamAnswer } from './wire.js';

export interface HttpTransportOptions {
  readonly clusterId: string;
  readonly self: string;
  /** Peer node id → its peer URL. */
  readonly peers: ReadonlyMap<string, string>;
  readonly requestTimeoutMs: number;
  readonly secret: string;
  readonly tls?: PeerLinkOptions['tls'];
  readonly log: Logger;
  /** Largest frame taken from a peer (its answers to our calls). */
  readonly frameBytesMax: number;
  /** Hears when our streams to peers open and end (peer-presence.ts). */
  readonly presence?: PeerPresence;
  /** See PeerLinkOptions.soon. */
  readonly soon?: PeerLinkOptions['soon'];
}

/** The most messages waiting for one peer; past it new ones are dropped (Raft resends). */
export const peerQueueMessagesMax = 50_000;
/** The most messages one frame or request to a peer carries. */
export const peerBatchMessagesMax = 4_096;
/** How long a peer without streams (an older node) gets requests before its stream is tried again. */
export const peerPostOnlyMs = 30_000;
/** A snapshot travels to a follower in chunks of this size. */
export const snapshotChunkBytes = 1024 * 1024;

export class HttpTransport implements Transport {
  readonly #links = new Map<string, { readonly url: string; readonly link: PeerLink }>();
  readonly #o: HttpTransportOptions;

  constructor(o: HttpTransportOptions) {
    this.#o = o;
    this.setPeers(o.peers);
  }

  setPeers(peers: ReadonlyMap<string, string>): void {
    const o = this.#o;
    for (const [peer, url] of peers) {
      const old = this.#links.get(peer);
      if (old?.url === url) continue;
      void old?.link.close();
      const link = new PeerLink({
        clusterId: o.clusterId,
        self: o.self,
        peer,
        url,
        requestTimeoutMs: o.requestTimeoutMs,
        queueMessagesMax: peerQueueMessagesMax,
        batchMessagesMax: peerBatchMessagesMax,
        snapshotChunkBytes,
        secret: o.secret,
        tls: o.tls,
        log: o.log,
        frameBytesMax: o.frameBytesMax,
        idleMs: peerTimeouts.connectionTimeout,
        postOnlyMs: peerPostOnlyMs,
        presence: o.presence,
        soon: o.soon,
      });
      this.#links.set(peer, { url, link });
    }
  }

  send(msgs: readonly GroupMessage[]): void {
    const byPeer = new Map<string, GroupMessage[]>();
    for (const gm of msgs) {
      const list = byPeer.get(gm.msg.to);
      if (list === undefined) byPeer.set(gm.msg.to, [gm]);
      else list.push(gm);
    }
    for (const [peer, list] of byPeer) this.#links.get(peer)?.link.enqueue(list);
  }

  call(peer: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const link = this.#links.get(peer)?.link;
    if (link === undefined) return Promise.reject(new CallNotSentError(`no link to ${peer}`));
    return link.call(payload, timeoutMs);
  }

  notify(notice: PeerNotice): void {
    for (const { link } of this.#links.values()) link.notify(notice);
  }

  peerUp(peer: string): boolean {
    return this.#links.get(peer)?.link.up ?? false;
  }

  /** See PeerLink.answer: false when no stream to `peer` is open. */
  answer(peer: string, a: StreamAnswer): boolean {
    return this.#links.get(peer)?.link.answer(a) ?? false;
  }

  /** Answers to our calls that came on `peer`'s stream. */
  takeAnswers(peer: string, answers: readonly StreamAnswer[]): void {
    this.#links.get(peer)?.link.takeAnswers(answers);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#links.values()].map((l) => l.link.close()));
  }
}
