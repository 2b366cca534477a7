/**
 * Fuzzing the client HTTP API in-process (issue #8): random methods, paths (odd, over-long and
 * badly %-encoded keys, dot segments), query strings, headers and bodies get only statuses of
 * the API's error catalogue (README), never a 500, and every error body is `{"error":{"code","message"}}` with
 * the code of its status. Interleaved well-formed requests on a few keys are held to a model of
 * the store, so garbage cannot corrupt what is stored, and every answer to them carries its
 * X-Raft-* provenance; afterwards the node still writes and reads.
 */

import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OneNode, startOneNode } from '../api/one-node.js';
import { fuzzBudget, fuzzRuns } from './budget.js';
import {
  type FuzzRequest,
  type ModelledRequest,
  modelKeys,
  modelledRequestArb,
  randomRequestArb,
  valueBytesMax,
} from './client-requests.js';

const runs = fuzzRuns.clientApi;
/** Counts the cases each property completes; the file fails if one runs other than its share. */
const fuzz = fuzzBudget('clientApi');

/** The API's error catalogue (README): the code each status must carry. */
const codeOfStatus: ReadonlyMap<number, string> = new Map([
  [400, 'bad_request'],
  [404, 'not_found'],
  [412, 'precondition_failed'],
  [413, 'too_large'],
  [503, 'unavailable'],
  [504, 'timeout'],
]);
const successStatuses: ReadonlySet<number> = new Set([200, 204]);

let one: OneNode;
let app: FastifyInstance;

beforeAll(async () => {
  one = await startOneNode({ shards: 3, valueBytesMax });
  app = one.app;
});

afterAll(async () => {
  await one?.close();
});

// --- The model ------------------------------------------------------------------------------

type KeyState =
  | { readonly kind: 'absent' }
  | { readonly kind: 'present'; readonly value: Buffer; readonly version: string }
  | { readonly kind: 'unknown' };

/** What the store holds for each key, as far as the answers so far prove it. */
class StoreModel {
  readonly #keys = new Map<string, KeyState>();

  get(key: string): KeyState {
    return this.#keys.get(key) ?? { kind: 'absent' };
  }

  set(key: string, state: KeyState): void {
    this.#keys.set(key, state);
  }

  /** Something changed a key we cannot name (a write of unknown outcome, a session replay). */
  forgetAll(): void {
    for (const key of modelKeys) this.#keys.set(key, { kind: 'unknown' });
    for (const key of this.#keys.keys()) this.#keys.set(key, { kind: 'unknown' });
  }
}

const model = new StoreModel();

function toInject(r: FuzzRequest) {
  return {
    method: r.method,
    url: r.url,
    headers: r.headers,
    ...(r.body === null ? {} : { payload: r.body }),
  };
}

/** Paths the router refused as not valid %-encoding (answered in the catalogue format). */
let badUrls = 0;

/** Every answer: a catalogued status, never a 500; every error body exactly of the API's error shape (README). */
function checkAnswer({ method }: FuzzRequest, res: LightMyRequestResponse): void {
  const status = res.statusCode;
  if (!successStatuses.has(status) && !codeOfStatus.has(status)) {
    throw new Error(`status ${status} is not in the catalogue: ${res.body.slice(0, 300)}`);
  }
  if (status < 400 || method === 'HEAD') return;
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(res.body) as { error?: { code?: unknown; message?: unknown } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error ?? {}).sort()).toEqual(['code', 'message']);
  expect(body.error?.code).toBe(codeOfStatus.get(status));
  expect(typeof body.error?.message === 'string' && body.error.message.length > 0).toBe(true);
  if (/is not a valid url component/.test(String(body.error?.message))) badUrls++;
  if (status === 503) expect(res.headers['retry-after']).toBe('1');
}

const writesSession = (r: FuzzRequest): boolean =>
  r.headers['x-raft-client'] !== undefined || r.headers['x-raft-seq'] !== undefined;

/** What a random request that happened to succeed teaches the model. */
function learnFromRandom(r: FuzzRequest, res: LightMyRequestResponse): void {
  const write = r.method === 'PUT' || r.method === 'DELETE';
  if (!write || !(successStatuses.has(res.statusCode) || res.statusCode === 504)) return;
  if (r.method === 'PUT' && res.statusCode === 200 && !writesSession(r)) {
    // The answer names the key; what the odd request made of its body, the next read will tell.
    model.set((res.json() as { key: string }).key, { kind: 'unknown' });
    return;
  }
  // A delete of a key we cannot name, an outcome unknown, or a session that may replay another write.
  model.forgetAll();
}

function buildModelled(m: ModelledRequest): FuzzRequest {
  const state = model.get(m.key);
  const headers: Record<string, string> = {};
  if (m.cond.kind === 'ifMatch') {
    const version =
      m.cond.version === 'current'
        ? state.kind === 'present'
          ? state.version
          : '1'
        : String(m.cond.version);
    headers['if-match'] = `"${version}"`;
  } else if (m.cond.kind === 'ifNoneMatch') {
    headers['if-none-match'] = '*';
  }
  const read = m.op === 'get' || m.op === 'head';
  const query = read && m.consistency !== null ? `?consistency=${m.consistency}` : '';
  return {
    method: m.op === 'get' ? 'GET' : m.op === 'head' ? 'HEAD' : m.op === 'put' ? 'PUT' : 'DELETE',
    url: `/v1/kv/${encodeURIComponent(m.key)}${query}`,
    headers,
    body: m.op === 'put' ? m.value : null,
  };
}

/** The outcome the model predicts for a write: applied, or refused with a code. */
function predictWrite(
  state: KeyState,
  op: 'put' | 'delete',
  headers: Record<string, string>,
): 'ok' | 412 | 404 | null {
  if (state.kind === 'unknown') return null;
  const ifMatch = headers['if-match'];
  if (ifMatch !== undefined && (state.kind === 'absent' || `"${state.version}"` !== ifMatch)) return 412;
  if (headers['if-none-match'] === '*' && state.kind === 'present') return 412;
  if (op === 'delete' && state.kind === 'absent') return 404;
  return 'ok';
}

/** Holds a modelled request's answer to the model, then records what it proves. */
function checkModelled(m: ModelledRequest, r: FuzzRequest, res: LightMyRequestResponse): void {
  const status = res.statusCode;
  const state = model.get(m.key);
  // Every answer about a well-formed key, whatever its status, says where it came from.
  expect({
    shard: res.headers['x-raft-shard'],
    node: res.headers['x-raft-node'],
    term: /^[0-9]+$/.test(String(res.headers['x-raft-term'])),
    index: /^[0-9]+$/.test(String(res.headers['x-raft-index'])),
  }).toEqual({ shard: String(one.node.shardOf(m.key)), node: 'n1', term: true, index: true });
  // Unavailable means nothing was done; no other refusal is right for a well-formed request.
  if (status === 503) return;
  if (status === 504) {
    if (m.op === 'put' || m.op === 'delete') model.set(m.key, { kind: 'unknown' });
    return;
  }
  if (m.op === 'get' || m.op === 'head') {
    expect([200, 404]).toContain(status);
    if (status === 404) {
      if (state.kind === 'present')
        throw new Error(`${m.key} read as absent but holds version ${state.version}`);
      model.set(m.key, { kind: 'absent' });
      return;
    }
    const version = /^"(.*)"$/.exec(String(res.headers.etag))?.[1];
    if (version === undefined) throw new Error(`no ETag on a 200 read: ${String(res.headers.etag)}`);
    if (state.kind === 'absent') throw new Error(`${m.key} read as version ${version} but was deleted`);
    if (state.kind === 'present') {
      expect(version).toBe(state.version);
      if (m.op === 'get') expect(res.rawPayload.equals(state.value)).toBe(true);
    }
    if (m.op === 'get') model.set(m.key, { kind: 'present', value: res.rawPayload, version });
    return;
  }
  const predicted = predictWrite(state, m.op, r.headers);
  if (status === 200 || status === 204) {
    if (predicted !== null) expect(predicted).toBe('ok');
    if (m.op === 'delete') {
      expect(status).toBe(204);
      model.set(m.key, { kind: 'absent' });
      return;
    }
    expect(status).toBe(200);
    const answer = res.json() as { key: string; version: string };
    expect(answer.key).toBe(m.key);
    expect(res.headers.etag).toBe(`"${answer.version}"`);
    model.set(m.key, { kind: 'present', value: m.value, version: answer.version });
    return;
  }
  expect([404, 412]).toContain(status);
  if (predicted !== null) expect(predicted).toBe(status);
}

describe('the client API under fuzzing', () => {
  it('answers random requests only with catalogued statuses and error bodies, never 500', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        randomRequestArb,
        fuzz.counted('random', async (r) => {
          const res = await app.inject(toInject(r));
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
          checkAnswer(r, res);
          learnFromRandom(r, res);
        }),
      ),
      fuzz.params('random', { endOnFailure: true }),
    );
    // The fuzz reached the routes, not only the 404 handler, and sent badly %-encoded paths.
    for (const status of [200, 400, 404, 413]) expect(statuses.get(status) ?? 0).toBeGreaterThan(0);
    expect(badUrls).toBeGreaterThan(0);
  });

  it('keeps well-formed requests on a few keys true to a model of the store, amid garbage', async () => {
    const mixedArb = fc.oneof(
      { weight: 3, arbitrary: modelledRequestArb.map((m) => ({ m, r: null })) },
      { weight: 1, arbitrary: randomRequestArb.map((r) => ({ m: null, r })) },
    );
    let writesApplied = 0;
    await fc.assert(
      fc.asyncProperty(
        mixedArb,
        fuzz.counted('modelled', async ({ m, r }) => {
          const req = m === null ? r! : buildModelled(m);
          const res = await app.inject(toInject(req));
          checkAnswer(req, res);
          if (m === null) return learnFromRandom(req, res);
          if ((m.op === 'put' && res.statusCode === 200) || (m.op === 'delete' && res.statusCode === 204))
            writesApplied++;
          checkModelled(m, req, res);
        }),
      ),
      fuzz.params('modelled', { endOnFailure: true }),
    );
    expect(writesApplied).toBeGreaterThan(runs.modelled / 10);
  });

  it('answers a path of invalid %-encoding with the catalogue body', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/kv/%E2%82' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('bad_request');
  });

  it('refuses what the fuzz found answered 500 before: a repeated list parameter, session seq 0', async () => {
    const cases = [
      { method: 'GET' as const, url: '/v1/kv?prefix=a&prefix=b', headers: {} },
      { method: 'GET' as const, url: '/v1/kv?after=a&after=b', headers: {} },
      { method: 'PUT' as const, url: '/v1/kv/s', headers: { 'x-raft-client': 'c', 'x-raft-seq': '0' } },
      { method: 'DELETE' as const, url: '/v1/kv/s', headers: { 'x-raft-client': 'c', 'x-raft-seq': '00' } },
    ];
    for (const c of cases) {
      const res = await app.inject(c);
      expect({ url: c.url, status: res.statusCode, code: res.json().error.code }).toEqual({
        url: c.url,
        status: 400,
        code: 'bad_request',
      });
    }
  });

  it('still writes and reads afterwards', async () => {
    const put = await app.inject({ method: 'PUT', url: '/v1/kv/after%2Ffuzz', payload: 'still here' });
    expect(put.statusCode).toBe(200);
    const { key, version } = put.json() as { key: string; version: string };
    expect(key).toBe('after/fuzz');
    const get = await app.inject({ method: 'GET', url: '/v1/kv/after%2Ffuzz' });
    expect({ status: get.statusCode, body: get.body, etag: get.headers.etag }).toEqual({
      status: 200,
      body: 'still here',
      etag: `"${version}"`,
    });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});
