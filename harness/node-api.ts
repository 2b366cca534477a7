/**
 * The node API as the harness sees it: the shapes of /v1/status and of error answers, and one
 * fully read HTTP exchange over undici, timed and bounded.
 */

import { performance } from 'node:perf_hooks';
import { type Dispatcher, request } from 'undici';

/** One group as GET /v1/status reports it. */
export interface GroupStatus {
  readonly shard: number;
  readonly members: string[];
  readonly id: string;
  readonly role: 'follower' | 'preCandidate' | 'candidate' | 'leader';
  readonly term: number;
  readonly vote: string | null;
  readonly leader: string | null;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly transferee: string | null;
}

export interface NodeStatus {
  readonly id: string;
  readonly groups: GroupStatus[];
}

/** An HTTP answer, fully read. Header names are lower case. */
export interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** Milliseconds from sending the request to having read the whole answer. */
  readonly elapsedMs: number;
  text(): string;
  json<T = unknown>(): T;
}

export interface RequestOptions {
  /** The node to ask; by default the first running node. */
  readonly node?: string;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer | string;
  /** Aborts the request after this long (the request then throws). */
  readonly timeoutMs?: number;
}

/** The answer of the API's error catalogue: `{"error":{"code","message"}}`. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

/** The path of a key's resource: the key URL-encoded as one segment. */
export function kvPath(key: string): string {
  return `/v1/kv/${encodeURIComponent(key)}`;
}

/** Sends one request to `url` and reads the whole answer; throws on a network error or after `timeoutMs`. */
export async function sendRequest(
  url: string,
  method: string,
  o: RequestOptions,
  dispatcher: Dispatcher,
): Promise<Reply> {
  const started = performance.now();
  const res = await request(url, {
    method: method as Dispatcher.HttpMethod,
    headers: o.headers,
    body: o.body,
    dispatcher,
    signal: AbortSignal.timeout(o.timeoutMs ?? 10_000),
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) {
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return {
    status: res.statusCode,
    headers,
    body,
    elapsedMs: performance.now() - started,
    text: () => body.toString('utf8'),
    json: <T>() => JSON.parse(body.toString('utf8')) as T,
  };
}
