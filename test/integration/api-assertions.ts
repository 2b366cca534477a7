/**
 * Assertions on README's API answers shared by the API tests: the error catalogue's shape, the
 * X-Raft-* provenance headers, and a PUT that must succeed with its version as ETag.
 */

import { expect } from 'vitest';
import type { ErrorBody, Reply, TestCluster } from './harness.js';

/** Checks the error catalogue's shape and returns the message. */
export function expectError(r: Reply, status: number, code: string): string {
  expect({ status: r.status, body: r.text() }).toMatchObject({ status });
  expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
  const body = r.json<ErrorBody>();
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
  expect(body.error.code).toBe(code);
  expect(body.error.message).toMatch(/\S/);
  if (status === 503) expect(r.headers['retry-after']).toBe('1');
  else expect(r.headers['retry-after']).toBe(undefined);
  return body.error.message;
}

/** The X-Raft-* headers: shard and node exactly, term exactly, index exactly or as an integer. */
export function expectProvenance(
  r: Reply,
  at: { shard: number; node: string; term: number; index?: string | number },
): void {
  expect({
    shard: r.headers['x-raft-shard'],
    node: r.headers['x-raft-node'],
    term: r.headers['x-raft-term'],
  }).toEqual({ shard: String(at.shard), node: at.node, term: String(at.term) });
  if (at.index === undefined) expect(r.headers['x-raft-index']).toMatch(/^[0-9]+$/);
  else expect(r.headers['x-raft-index']).toBe(String(at.index));
}

/** A PUT that must succeed; returns its version after checking body, ETag and provenance. */
export async function putOk(
  cl: TestCluster,
  key: string,
  value: Buffer | string,
  o: { node?: string; headers?: Record<string, string> } = {},
): Promise<string> {
  const r = await cl.put(key, value, o);
  expect({ status: r.status, body: r.text() }).toMatchObject({ status: 200 });
  const body = r.json<{ key: string; version: string }>();
  expect(body).toEqual({ key, version: body.version });
  expect(body.version).toMatch(/^[1-9][0-9]*$/);
  expect(r.headers.etag).toBe(`"${body.version}"`);
  // The version is the write's log index, which is what the answer reflects.
  expect({
    shard: r.headers['x-raft-shard'],
    index: r.headers['x-raft-index'],
    term: /^[1-9][0-9]*$/.test(r.headers['x-raft-term'] ?? ''),
    node: cl.ids.includes(r.headers['x-raft-node'] ?? ''),
  }).toEqual({ shard: String(cl.shardOf(key)), index: body.version, term: true, node: true });
  return body.version;
}
