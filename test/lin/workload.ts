/**
 * The history recorder: concurrent clients, each one request at a time, run a random mix of
 * linearizable reads, writes of unique values, compare-and-set (PUT with If-Match: the version
 * this client last observed for the key) and deletes over a small key set, each against a random
 * node's HTTP API (which forwards to the shard's leader). Every operation is recorded with its
 * invocation and completion times and its outcome as README's API defines it:
 *
 *   ok    200/204, 404 (absent), 412 (the condition did not hold: an observation too)
 *   fail  503, 400, 413, or a connection that was never made: known not applied
 *   info  504, a client-side timeout, a connection lost after the request was sent: may take
 *         effect at any later time, or never
 *
 * Writes carry no X-Raft-Client/X-Raft-Seq session, so an indeterminate write stays truly
 * indeterminate; the checker allows for it.
 */

import { performance } from 'node:perf_hooks';
import { Agent, type Dispatcher, request } from 'undici';
import { sleep } from '../../harness/index.js';
import type { Op, Operation, Output } from './history.js';
import { Rng } from './rng.js';

export interface Endpoint {
  readonly id: string;
  readonly api: string;
}

/** Relative weights of the operation kinds. */
export interface Mix {
  readonly read: number;
  readonly write: number;
  readonly cas: number;
  readonly delete: number;
}

export const defaultMix: Mix = { read: 0.4, write: 0.25, cas: 0.25, delete: 0.1 };

export interface WorkloadOptions {
  readonly keys: readonly string[];
  readonly clients: number;
  /** The nodes to send to, asked anew for each operation (nodes may join and leave). */
  readonly endpoints: () => readonly Endpoint[];
  readonly seed: number;
  /** The client gives up on a request after this long (the operation is then `info`). */
  readonly timeoutMs: number;
  /** performance.now() at the start of the run: times in the history count from here. */
  readonly t0: number;
  readonly mix?: Mix;
  /**
   * `stale` sends the workload's reads with ?consistency=stale while they are still checked as
   * linearizable: a deliberate fault of the client's, which the checker must catch (README's API allows
   * stale reads to be stale). The final reads are always linearizable.
   */
  readonly reads?: 'linearizable' | 'stale';
}

/** Network errors after which the request certainly never reached a node. */
export const notSent = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);

/** The code of a failed request's error: a Node/undici code, or TimeoutError / AbortError. */
export function errorCode(err: unknown): string {
  const e = err as { code?: unknown; name?: string; cause?: { code?: unknown } };
  // An AbortSignal timeout is a DOMException whose legacy numeric code (23) says nothing.
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return e.name;
  if (typeof e.code === 'string') return e.code;
  if (typeof e.cause?.code === 'string') return e.cause.code;
  return e.name ?? 'error';
}

export class Workload {
  readonly history: Operation[] = [];
  readonly counts = { ok: 0, fail: 0, info: 0 };
  readonly #o: WorkloadOptions;
  readonly #agent: Dispatcher;
  #nextId = 0;
  #stopped = false;
  #loops: Promise<void>[] = [];

  constructor(o: WorkloadOptions) {
    this.#o = o;
    this.#agent = new Agent({
      keepAliveTimeout: 4_000,
      connect: { timeout: 1_000 },
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  /** Milliseconds since the run began. */
  now(): number {
    return performance.now() - this.#o.t0;
  }

  start(): void {
    this.#loops = Array.from({ length: this.#o.clients }, (_, c) => this.#client(c));
  }

  /** Stops issuing operations and waits for the ones in flight (bounded by the client timeout). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#loops);
  }

  async close(): Promise<void> {
    await this.#agent.close().catch(() => undefined);
  }

  async #client(c: number): Promise<void> {
    const rng = new Rng(this.#o.seed, 1_000 + c);
    const mix = this.#o.mix ?? defaultMix;
    const total = mix.read + mix.write + mix.cas + mix.delete;
    const lastVersion = new Map<string, string>();
    let seq = 0;
    while (!this.#stopped) {
      const key = rng.pick(this.#o.keys);
      const endpoint = rng.pick(this.#o.endpoints());
      const r = rng.next() * total;
      let op: Op;
      if (r < mix.read) op = { f: 'read' };
      else if (r < mix.read + mix.write) op = { f: 'write', value: `c${c}-${++seq}` };
      else if (r < mix.read + mix.write + mix.cas) {
        const expect = lastVersion.get(key);
        op = expect === undefined ? { f: 'read' } : { f: 'cas', expect, value: `c${c}-${++seq}` };
      } else op = { f: 'delete' };
      const o = await this.invoke(c, key, op, endpoint, this.#o.reads === 'stale');
      if (o.outcome === 'ok' && o.output !== null) {
        const out = o.output;
        if (out.kind === 'value' || out.kind === 'written') lastVersion.set(key, out.version);
        else if (out.kind === 'absent' || out.kind === 'deleted') lastVersion.delete(key);
      }
      if (o.outcome !== 'ok') await sleep(rng.int(50, 200));
    }
  }

  /** Runs one operation against `endpoint` and records it. */
  async invoke(client: number, key: string, op: Op, endpoint: Endpoint, stale = false): Promise<Operation> {
    const id = this.#nextId++;
    const query = stale && op.f === 'read' ? '?consistency=stale' : '';
    const url = `${endpoint.api}/v1/kv/${encodeURIComponent(key)}${query}`;
    const headers: Record<string, string> = {};
    let method: Dispatcher.HttpMethod = 'GET';
    let body: string | undefined;
    if (op.f === 'write' || op.f === 'cas') {
      method = 'PUT';
      body = op.value;
      headers['content-type'] = 'application/octet-stream';
      if (op.f === 'cas') headers['if-match'] = `"${op.expect}"`;
    } else if (op.f === 'delete') method = 'DELETE';
    const call = this.now();
    let outcome: Operation['outcome'];
    let output: Output | null = null;
    let note: string;
    try {
      const res = await request(url, {
        method,
        headers,
        body,
        dispatcher: this.#agent,
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
      const text = await res.body.text();
      const status = res.statusCode;
      note = String(status);
      [outcome, output] = classify(op, status, text, res.headers.etag);
      if (outcome !== 'ok' && text !== '') note += ` ${errorText(text)}`;
    } catch (err) {
      const code = errorCode(err);
      note = code;
      outcome = notSent.has(code) ? 'fail' : 'info';
    }
    const end = this.now();
    const o: Operation = {
      id,
      client,
      key,
      op,
      call,
      ret: outcome === 'info' ? Number.POSITIVE_INFINITY : end,
      outcome,
      output,
      note,
      node: endpoint.id,
      ...(outcome === 'info' ? { gaveUp: end } : {}),
    };
    this.history.push(o);
    this.counts[outcome]++;
    return o;
  }
}

function errorText(text: string): string {
  try {
    const e = JSON.parse(text) as { error?: { code?: string; message?: string } };
    return e.error?.message ?? text.slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}

function classify(
  op: Op,
  status: number,
  text: string,
  etag: string | string[] | undefined,
): [Operation['outcome'], Output | null] {
  if (op.f === 'read') {
    if (status === 200) {
      const tag = typeof etag === 'string' ? etag.replace(/^"|"$/g, '') : '';
      return ['ok', { kind: 'value', value: text, version: tag }];
    }
    if (status === 404) return ['ok', { kind: 'absent' }];
    // A read that failed changed nothing, whatever the reason.
    return ['fail', null];
  }
  if (status === 412) return ['ok', { kind: 'preconditionFailed' }];
  if (status === 503 || status === 400 || status === 413) return ['fail', null];
  if (op.f === 'delete') {
    if (status === 204) return ['ok', { kind: 'deleted' }];
    if (status === 404) return ['ok', { kind: 'absent' }];
    return ['info', null];
  }
  if (status === 200) {
    const version = (JSON.parse(text) as { version?: unknown }).version;
    return ['ok', { kind: 'written', version: String(version) }];
  }
  // 504, or anything README's API does not promise "nothing done" for.
  return ['info', null];
}
