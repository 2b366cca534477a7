/**
 * What a benchmark drives: raftkv through the client library (straight to each shard's leader),
 * raftkv over plain HTTP through one node, or etcd over its v3 HTTP/JSON gateway — the same
 * three calls each, so the client side costs the same.
 */

import { Agent, request } from 'undici';
import { agentFor, authHeaders } from '../client/connect.js';
import { RaftKV, RaftKVError } from '../client/index.js';

/** How one operation ended: ok, or the error kind it failed with. */
export type Outcome = 'ok' | string;

export interface Target {
  readonly name: string;
  put(key: string, value: Uint8Array): Promise<Outcome>;
  get(key: string, stale: boolean): Promise<Outcome>;
  /** Compare-and-set: read the version, then write only if it is unchanged (412 counts as ok). */
  cas(key: string, value: Uint8Array): Promise<Outcome>;
  close(): Promise<void>;
}

/** Credentials for a cluster that requires them: an API token, a CA for https nodes. */
export interface TargetAuth {
  readonly token?: string | undefined;
  readonly ca?: Buffer | undefined;
}

export function raftkvClientTarget(endpoints: readonly string[], auth: TargetAuth = {}): Target {
  const kv = new RaftKV({ endpoints, operationTimeoutMs: 10_000, token: auth.token, ca: auth.ca });
  const wrap = async (op: () => Promise<unknown>): Promise<Outcome> => {
    try {
      await op();
      return 'ok';
    } catch (err) {
      if (err instanceof RaftKVError) return err.code === 'precondition_failed' ? 'ok' : err.code;
      return 'error';
    }
  };
  return {
    name: 'raftkv',
    put: (key, value) => wrap(() => kv.put(key, value)),
    get: (key, stale) => wrap(() => kv.get(key, { consistency: stale ? 'stale' : 'linearizable' })),
    cas: (key, value) =>
      wrap(async () => {
        const cur = await kv.get(key);
        await (cur === null
          ? kv.put(key, value, { ifNoneMatch: true })
          : kv.put(key, value, { ifMatch: cur.version }));
      }),
    close: () => kv.close(),
  };
}

/** Plain HTTP to the given node URLs in turn (each forwards to the leader). */
export function raftkvHttpTarget(endpoints: readonly string[], auth: TargetAuth = {}): Target {
  const agent = agentFor(auth, { connections: 512, keepAliveTimeout: 30_000 });
  const authorization = authHeaders(auth);
  let next = 0;
  const call = async (
    method: 'GET' | 'PUT',
    path: string,
    body?: Uint8Array,
    headers?: Record<string, string>,
  ) => {
    const base = endpoints[next++ % endpoints.length]!;
    const res = await request(new URL(path, base), {
      method,
      body,
      headers: { ...authorization, ...headers },
      dispatcher: agent,
    });
    const text = await res.body.arrayBuffer();
    return { status: res.statusCode, etag: res.headers.etag, size: text.byteLength };
  };
  const outcome = (status: number): Outcome =>
    status < 300 || status === 404 || status === 412
      ? 'ok'
      : status === 503
        ? 'unavailable'
        : status === 504
          ? 'timeout'
          : `http_${status}`;
  const guard = async (op: () => Promise<Outcome>): Promise<Outcome> => op().catch(() => 'unreachable');
  const path = (key: string) => `/v1/kv/${encodeURIComponent(key)}`;
  return {
    name: 'raftkv-http',
    put: (key, value) => guard(async () => outcome((await call('PUT', path(key), value)).status)),
    get: (key, stale) =>
      guard(async () =>
        outcome((await call('GET', `${path(key)}${stale ? '?consistency=stale' : ''}`)).status),
      ),
    cas: (key, value) =>
      guard(async () => {
        const cur = await call('GET', path(key));
        const etag = typeof cur.etag === 'string' ? cur.etag : null;
        const headers: Record<string, string> =
          etag === null ? { 'if-none-match': '*' } : { 'if-match': etag };
        return outcome((await call('PUT', path(key), value, headers)).status);
      }),
    close: () => agent.close(),
  };
}

/** etcd's v3 gateway: POST /v3/kv/put and /v3/kv/range with base64 JSON, to the members in turn. */
export function etcdTarget(endpoints: readonly string[]): Target {
  const agent = new Agent({ connections: 512, keepAliveTimeout: 30_000 });
  let next = 0;
  const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64');
  const post = async (
    path: string,
    body: unknown,
  ): Promise<{ status: number; json: Record<string, unknown> }> => {
    const base = endpoints[next++ % endpoints.length]!;
    const res = await request(new URL(path, base), {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
      dispatcher: agent,
    });
    return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
  };
  const outcome = (status: number): Outcome => (status === 200 ? 'ok' : `http_${status}`);
  const guard = async (op: () => Promise<Outcome>): Promise<Outcome> => op().catch(() => 'unreachable');
  return {
    name: 'etcd',
    put: (key, value) =>
      guard(async () => outcome((await post('/v3/kv/put', { key: b64(key), value: b64(value) })).status)),
    get: (key, stale) =>
      guard(async () => outcome((await post('/v3/kv/range', { key: b64(key), serializable: stale })).status)),
    cas: (key, value) =>
      guard(async () => {
        const cur = await post('/v3/kv/range', { key: b64(key) });
        const kvs = (cur.json.kvs as { mod_revision?: string }[] | undefined) ?? [];
        const rev = kvs[0]?.mod_revision ?? '0';
        const txn = {
          compare: [{ key: b64(key), target: 'MOD', result: 'EQUAL', mod_revision: rev }],
          success: [{ request_put: { key: b64(key), value: b64(value) } }],
        };
        return outcome((await post('/v3/kv/txn', txn)).status);
      }),
    close: () => agent.close(),
  };
}
