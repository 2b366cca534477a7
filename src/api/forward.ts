/**
 * Forwarding a client request to the node that can serve it (the shard's leader), through an
 * undici pool per node, and relaying the answer unchanged. A hop counter bounds the chain. A
 * request that never reached the leader is `unavailable` (nothing done); a write whose answer was
 * lost after it was sent has an unknown outcome.
 */

import { Pool } from 'undici';
import { outcomeUnknown, unavailable } from '../node/index.js';
import {
  clusterAuthHeader,
  epochHeader,
  hopsHeader,
  provenanceHeaders,
  sessionHeaders,
} from '../protocol/index.js';

/** A node that does not host a shard forwards to a member, which forwards to the leader. */
export const hopsMax = 2;

/** Headers a client may send that the serving node needs. */
const requestHeaders = [
  'authorization',
  clusterAuthHeader,
  'content-type',
  'if-match',
  'if-none-match',
  sessionHeaders.client,
  sessionHeaders.seq,
];
/** Headers of the answer that the client must see. */
const replyHeaders = [
  'content-type',
  'etag',
  'retry-after',
  epochHeader,
  ...Object.values(provenanceHeaders),
];

/** TLS options for requests to other nodes' client ports: the CA their certificates chain to. */
export interface OutboundTls {
  readonly ca?: Buffer | undefined;
}

export interface Forwarded {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

export class Forwarder {
  readonly #pools = new Map<string, Pool>();
  readonly #timeoutMs: number;
  readonly #onForward: () => void;
  readonly #connect: OutboundTls | undefined;

  /**
   * `onForward` is called for every request relayed (for metrics); `connect` carries the TLS
   * options (the CA) for https nodes.
   */
  constructor(timeoutMs: number, onForward: () => void = () => {}, connect?: OutboundTls) {
    this.#timeoutMs = timeoutMs;
    this.#onForward = onForward;
    this.#connect = connect;
  }

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, { connections: 64, keepAliveTimeout: 30_000, connect: { ...this.#connect } });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  /** Sends the request to `api` and returns its answer; throws KVError when it cannot tell. */
  async forward(
    api: string,
    req: {
      method: string;
      url: string;
      headers: Record<string, string | string[] | undefined>;
      body: Buffer | null;
      hops: number;
    },
  ): Promise<Forwarded> {
    const headers: Record<string, string> = { [hopsHeader]: String(req.hops + 1) };
    for (const h of requestHeaders) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const isWrite = req.method !== 'GET' && req.method !== 'HEAD';
    this.#onForward();
    try {
      const res = await this.#pool(new URL(api).origin).request({
        method: req.method as 'GET',
        path: req.url,
        headers,
        body: req.body ?? undefined,
        // undici's own timers: far cheaper per request than an AbortSignal.timeout.
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
      const body = Buffer.from(await res.body.arrayBuffer());
      const out: Record<string, string> = {};
      for (const h of replyHeaders) {
        const v = res.headers[h];
        if (typeof v === 'string') out[h] = v;
      }
      return { status: res.statusCode, headers: out, body };
    } catch (err) {
      const code = (err as { code?: string }).code;
      const neverArrived = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH';
      if (!isWrite || neverArrived)
        throw unavailable(`the shard leader at ${api} could not be reached (${code ?? 'error'})`);
      throw outcomeUnknown(
        `the request to the shard leader at ${api} failed (${code ?? 'error'}); the write may or may not take effect`,
      );
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.destroy()));
  }
}
