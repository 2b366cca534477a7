/**
 * The peer stream: one long-lived connection from each node to each peer, opened as an HTTP/1.1
 * Upgrade on the peer port and then carrying msgpack frames both ways (wire.ts StreamFrame):
 * the opener's Raft messages and calls one way, the answers to its calls the other. It replaces
 * one HTTP request per batch (headers, parsing, a reply) by one write of a frame.
 *
 * Both ends prove they hold the cluster secret in the handshake, each with a fresh nonce, and
 * every frame carries a MAC keyed by both nonces and numbered by its place in the stream, so a
 * frame cannot be forged, altered, replayed, dropped or reordered unnoticed; a frame that fails
 * closes the connection.
 *
 *   frame = <body length, u32 BE> <MAC, 16 bytes> <body, msgpack>
 *   MAC   = HMAC-SHA256(session key, direction ‖ sequence number u64 BE ‖ body), first 16 bytes
 *   key   = HMAC-SHA256(cluster secret, "raftkv stream" ‖ opener's nonce ‖ peer's nonce)
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { peerMac } from './peer-auth.js';

export const streamPath = '/raft/v1/stream';
/** The protocol the Upgrade asks for. */
export const streamProtocol = 'raftkv-peer/1';
export const streamHeaders = {
  cluster: 'x-raftkv-cluster',
  from: 'x-raftkv-from',
  nonce: 'x-raftkv-nonce',
} as const;

const macBytes = 16;
const headBytes = 4 + macBytes;
const nonceHex = /^[0-9a-f]{32}$/;

/** Which end wrote a frame: the node that opened the stream, or the one that accepted it. */
export type StreamEnd = 'opener' | 'acceptor';

export const newNonce = (): string => randomBytes(16).toString('hex');

/**
 * Whether a connection ended because the other side's process closed or reset it (or refused
 * it), as opposed to this side closing it, a timeout of silence, or bad data.
 */
export function endedByPeer(reason: string | null): boolean {
  return reason !== null && /connection closed|ECONNRESET|ECONNREFUSED|EPIPE/.test(reason);
}

/** What the opener's MAC covers in its Upgrade request. */
export function openerProof(secret: string, cluster: string, from: string, nonce: string): string {
  return peerMac(secret, streamPath, Buffer.from(`${cluster}\n${from}\n${nonce}`));
}

/** What the acceptor's MAC covers in its 101 answer: both nonces. */
export function acceptorProof(secret: string, openerNonce: string, acceptorNonce: string): string {
  return peerMac(secret, streamPath, Buffer.from(`${openerNonce}\n${acceptorNonce}`));
}

/** Whether `mac` (as received) equals `expected`; constant time. */
export function proofValid(expected: string, mac: string | string[] | undefined): boolean {
  if (typeof mac !== 'string' || mac.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(mac), Buffer.from(expected));
}

export function nonceValid(nonce: string | string[] | undefined): nonce is string {
  return typeof nonce === 'string' && nonceHex.test(nonce);
}

export function sessionKey(secret: string, openerNonce: string, acceptorNonce: string): Buffer {
  return createHmac('sha256', secret).update(`raftkv stream\n${openerNonce}\n${acceptorNonce}`).digest();
}

export interface FrameSocketOptions {
  readonly key: Buffer;
  /** Which end this is: frames written here are MACed as this end's, frames read as the other's. */
  readonly end: StreamEnd;
  /** A frame whose body is longer closes the connection. */
  readonly frameBytesMax: number;
  readonly onFrame: (body: Uint8Array) => void;
  /** Called once, when the connection ends for any reason (`reason` null when closed here). */
  readonly onClose: (reason: string | null) => void;
  /** A connection silent this long is dropped (a live peer sends heartbeats far more often). */
  readonly idleMs: number;
}

/** Frames over one connection, both ways. */
export class FrameSocket {
  readonly #socket: Duplex;
  readonly #o: FrameSocketOptions;
  #sentSeq = 0n;
  #readSeq = 0n;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #closed = false;

  /** `head`: bytes that arrived with the handshake, already past it. */
  constructor(socket: Duplex, head: Buffer, o: FrameSocketOptions) {
    this.#socket = socket;
    this.#o = o;
    const net = socket as Duplex & Partial<Pick<Socket, 'setNoDelay' | 'setTimeout'>>;
    net.setNoDelay?.(true);
    net.setTimeout?.(o.idleMs, () => this.#end(`silent for ${o.idleMs} ms`));
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('error', (err) => this.#end(err.message));
    // An HTTP server's sockets allow half-open connections: the other side's FIN comes as 'end' alone.
    socket.on('end', () => this.#end('connection closed'));
    socket.on('close', () => this.#end('connection closed'));
    if (head.byteLength > 0) this.#read(head);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Writes one frame; false when the socket's buffer is full (wait for `drained()`). */
  write(body: Uint8Array): boolean {
    if (this.#closed) return false;
    const head = Buffer.allocUnsafe(headBytes);
    head.writeUInt32BE(body.byteLength, 0);
    this.#mac(this.#o.end, this.#sentSeq++, body).copy(head, 4);
    this.#socket.cork();
    this.#socket.write(head);
    const more = this.#socket.write(body);
    this.#socket.uncork();
    return more;
  }

  /** Resolves when the socket can take more, or when it closed. */
  drained(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#socket.off('drain', done);
        this.#socket.off('close', done);
        resolve();
      };
      this.#socket.on('drain', done);
      this.#socket.on('close', done);
    });
  }

  close(): void {
    this.#end(null);
  }

  /** Closes after what was written has left (a stopping node's last answers), not at once. */
  finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#socket.end();
    this.#o.onClose(null);
  }

  #read(chunk: Buffer): void {
    if (this.#closed) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.byteLength;
    while (this.#buffered >= headBytes) {
      const first = this.#chunks.length === 1 ? this.#chunks[0]! : this.#join();
      const length = first.readUInt32BE(0);
      if (length > this.#o.frameBytesMax) {
        this.#end(`a frame of ${length} bytes is over the limit of ${this.#o.frameBytesMax}`);
        return;
      }
      if (this.#buffered < headBytes + length) return;
      const all = this.#chunks.length === 1 ? first : this.#join();
      const body = all.subarray(headBytes, headBytes + length);
      const expected = this.#mac(this.#o.end === 'opener' ? 'acceptor' : 'opener', this.#readSeq++, body);
      if (!timingSafeEqual(expected, all.subarray(4, headBytes))) {
        this.#end('a frame with a wrong MAC');
        return;
      }
      const rest = all.subarray(headBytes + length);
      this.#chunks = rest.byteLength === 0 ? [] : [rest];
      this.#buffered = rest.byteLength;
      this.#o.onFrame(body);
      if (this.#closed) return;
    }
  }

  #join(): Buffer {
    const all = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [all];
    return all;
  }

  #mac(end: StreamEnd, seq: bigint, body: Uint8Array): Buffer {
    const prefix = Buffer.allocUnsafe(9);
    prefix[0] = end === 'opener' ? 0 : 1;
    prefix.writeBigUInt64BE(seq, 1);
    return createHmac('sha256', this.#o.key).update(prefix).update(body).digest().subarray(0, macBytes);
  }

  #end(reason: string | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#socket.destroy();
    this.#o.onClose(reason);
  }
}
