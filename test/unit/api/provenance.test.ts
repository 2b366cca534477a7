/**
 * README's API: every reply about a key says where it came from, errors included. One node leading
 * three shards (inject): a 412 (If-Match on another version, If-None-Match on an existing key),
 * the 404 of DELETE and GET on an absent key, and a 400 about a well-formed key carry the key's
 * shard, the node, and the term and applied index the node has for that shard; a 400 about a
 * malformed key, which belongs to no shard, carries none.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyOfShard, provenanceNow, provenanceOf } from './key-provenance.js';
import { type OneNode, startOneNode } from './one-node.js';

describe('provenance of the answers about a key on one node', () => {
  let one: OneNode;

  beforeAll(async () => {
    one = await startOneNode({ shards: 3 });
  });

  afterAll(async () => {
    await one?.close();
  });

  /** Writes `key` and returns its version. */
  const put = async (key: string, value: string): Promise<number> => {
    const r = await one.app.inject({ method: 'PUT', url: `/v1/kv/${key}`, payload: value });
    expect(r.statusCode).toBe(200);
    return Number(r.json<{ version: string }>().version);
  };

  it('412 on PUT with If-Match of another version: the refused write applied at the next index', async () => {
    const { app, node } = one;
    const key = keyOfShard(node, 2, 'prov/if-match/');
    const version = await put(key, 'one');
    const r = await app.inject({
      method: 'PUT',
      url: `/v1/kv/${key}`,
      payload: 'two',
      headers: { 'if-match': `"${version + 1000}"` },
    });
    expect(r.json()).toEqual({
      error: {
        code: 'precondition_failed',
        message: `the condition on key ${JSON.stringify(key)} did not hold; nothing was written`,
      },
    });
    expect(r.statusCode).toBe(412);
    expect(provenanceOf(r)).toEqual(provenanceNow(node, 2));
    expect(Number(r.headers['x-raft-index'])).toBe(version + 1);
  });

  it('412 on PUT with If-None-Match: * of a key that exists', async () => {
    const { app, node } = one;
    const key = keyOfShard(node, 1, 'prov/if-none-match/');
    const version = await put(key, 'one');
    const r = await app.inject({
      method: 'PUT',
      url: `/v1/kv/${key}`,
      payload: 'two',
      headers: { 'if-none-match': '*' },
    });
    expect(r.statusCode).toBe(412);
    expect(provenanceOf(r)).toEqual(provenanceNow(node, 1));
    expect(Number(r.headers['x-raft-index'])).toBe(version + 1);
  });

  it('404 on DELETE of an absent key: the delete applied and found nothing', async () => {
    const { app, node } = one;
    const key = keyOfShard(node, 2, 'prov/delete/');
    const before = Number(provenanceNow(node, 2).index);
    const r = await app.inject({ method: 'DELETE', url: `/v1/kv/${key}` });
    expect(r.statusCode).toBe(404);
    expect(r.json()).toEqual({
      error: { code: 'not_found', message: `key ${JSON.stringify(key)} not found` },
    });
    expect(provenanceOf(r)).toEqual(provenanceNow(node, 2));
    expect(Number(r.headers['x-raft-index'])).toBe(before + 1);
  });

  it('404 on GET of an absent key: the applied index the read saw', async () => {
    const { app, node } = one;
    const key = keyOfShard(node, 0, 'prov/get/');
    const r = await app.inject({ method: 'GET', url: `/v1/kv/${key}` });
    expect(r.statusCode).toBe(404);
    expect(provenanceOf(r)).toEqual(provenanceNow(node, 0));
  });

  it('400 about a well-formed key carries provenance; about a malformed key none', async () => {
    const { app, node } = one;
    const key = keyOfShard(node, 1, 'prov/bad-header/');
    const bad = await app.inject({
      method: 'PUT',
      url: `/v1/kv/${key}`,
      headers: { 'if-match': 'unquoted' },
    });
    expect(bad.statusCode).toBe(400);
    expect(provenanceOf(bad)).toEqual(provenanceNow(node, 1));
    const tooLong = await app.inject({ method: 'GET', url: `/v1/kv/${'k'.repeat(1025)}` });
    expect(tooLong.statusCode).toBe(400);
    expect(provenanceOf(tooLong)).toEqual({
      shard: undefined,
      node: undefined,
      term: undefined,
      index: undefined,
    });
  });
});
