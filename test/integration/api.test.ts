/**
 * The client HTTP API of README's API against a real three-node, three-shard cluster: every route and
 * status code but 504 (api-timeout.test.ts), exact bodies and headers, forwarding from followers,
 * conditional and exactly-once writes, the prefix listing across shards, and 503 (nothing done)
 * crafted deterministically by pausing two nodes with SIGSTOP.
 */

import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { expectError, expectProvenance, putOk } from './api-assertions.js';
import { type ErrorBody, kvPath, useCluster } from './harness.js';

const MiB = 1024 * 1024;

describe('client API on a three-node cluster', () => {
  const cluster = useCluster({ name: 'api' });

  it('PUT, GET and DELETE work through every node; followers forward to the leader', async () => {
    const cl = cluster();
    const leaders = await cl.waitBalanced();
    for (let shard = 0; shard < cl.shards; shard++) {
      const leader = leaders[shard]!;
      const { term } = await cl.groupStatus(leader, shard);
      const key = cl.keysOfShard(shard, 1, `api/crud/${shard}/`)[0]!;
      let last = 0;
      for (const via of cl.ids) {
        const value = `value of ${key} written through ${via}`;
        const r = await cl.put(key, value, { node: via });
        expect(r.status).toBe(200);
        const version = r.json<{ version: string }>().version;
        expect(r.json()).toEqual({ key, version });
        expect(r.headers.etag).toBe(`"${version}"`);
        // Versions are the write's log index, so the leader's provenance index equals it.
        expectProvenance(r, { shard, node: leader, term, index: version });
        expect(Number(version)).toBeGreaterThan(last);
        last = Number(version);
        for (const reader of cl.ids) {
          const got = await cl.get(key, { node: reader });
          expect({ status: got.status, value: got.text(), etag: got.headers.etag }).toEqual({
            status: 200,
            value,
            etag: `"${version}"`,
          });
          expect(got.headers['content-type']).toBe('application/octet-stream');
          expectProvenance(got, { shard, node: leader, term, index: version });
          // A stale read is served by the node asked, from its own state, once it has applied the write.
          const stale = await cl.waitFor(
            async () => {
              const s = await cl.get(key, { node: reader, stale: true });
              return s.headers.etag === `"${version}"` ? s : null;
            },
            { what: `${reader} to apply ${key}@${version}` },
          );
          expect({ status: stale.status, value: stale.text() }).toEqual({ status: 200, value });
          expectProvenance(stale, { shard, node: reader, term, index: version });
        }
      }

      const follower = cl.ids.find((id) => id !== leader)!;
      const del = await cl.del(key, { node: follower });
      expect({ status: del.status, body: del.body.length }).toEqual({ status: 204, body: 0 });
      expectProvenance(del, { shard, node: leader, term });
      expect(Number(del.headers['x-raft-index'])).toBeGreaterThan(last);
      for (const reader of cl.ids) {
        const gone = await cl.get(key, { node: reader });
        expect(expectError(gone, 404, 'not_found')).toBe(`key ${JSON.stringify(key)} not found`);
        expectProvenance(gone, { shard, node: leader, term, index: del.headers['x-raft-index']! });
      }
      expectError(await cl.del(key, { node: follower }), 404, 'not_found');

      // A re-created key gets a version it never had before.
      const again = await putOk(cl, key, 'again', { node: follower });
      expect(Number(again)).toBeGreaterThan(Number(del.headers['x-raft-index']));
    }
  });

  it('keys are URL-decoded UTF-8 with any characters, values are raw bytes (empty included)', async () => {
    const cl = cluster();
    const key = 'api/dir with space/ü/ключ/😀?&#%';
    const value = Buffer.from([0, 1, 2, 255, 254, 10, 13, 0]);
    const version = await putOk(cl, key, value, { node: 'n2' });
    for (const reader of cl.ids) {
      const got = await cl.get(key, { node: reader });
      expect({ status: got.status, etag: got.headers.etag }).toEqual({ status: 200, etag: `"${version}"` });
      expect(got.body.equals(value)).toBe(true);
      expect(got.headers['x-raft-shard']).toBe(String(cl.shardOf(key)));
    }
    const emptyVersion = await putOk(cl, 'api/empty value', '', { node: 'n3' });
    const empty = await cl.get('api/empty value', { node: 'n1' });
    expect({ status: empty.status, length: empty.body.length, etag: empty.headers.etag }).toEqual({
      status: 200,
      length: 0,
      etag: `"${emptyVersion}"`,
    });
  });

  it('If-Match writes only over the given version and If-None-Match: * only an absent key, else 412', async () => {
    const cl = cluster();
    const key = `api/cond/${randomUUID()}`;
    const v1 = await putOk(cl, key, 'one', { node: 'n1' });
    const v2 = await putOk(cl, key, 'two', { node: 'n2', headers: { 'if-match': `"${v1}"` } });
    expect(v2).not.toBe(v1);

    const stale = await cl.put(key, 'three', { node: 'n3', headers: { 'if-match': `"${v1}"` } });
    expectError(stale, 412, 'precondition_failed');
    const exists = await cl.put(key, 'three', { node: 'n1', headers: { 'if-none-match': '*' } });
    expectError(exists, 412, 'precondition_failed');
    // A refusal says where it came from, relayed or not: the leader, and the index of the refused write.
    const shard = cl.shardOf(key);
    const leader = await cl.waitLeader(shard);
    const { term } = await cl.groupStatus(leader, shard);
    expectProvenance(stale, { shard, node: leader, term });
    expectProvenance(exists, { shard, node: leader, term });
    expect(Number(stale.headers['x-raft-index'])).toBeGreaterThan(Number(v2));
    expect(Number(exists.headers['x-raft-index'])).toBeGreaterThan(Number(stale.headers['x-raft-index']));
    const got = await cl.get(key, { node: 'n3' });
    expect({ value: got.text(), etag: got.headers.etag }).toEqual({ value: 'two', etag: `"${v2}"` });

    expectError(
      await cl.del(key, { node: 'n2', headers: { 'if-match': `"${v1}"` } }),
      412,
      'precondition_failed',
    );
    const del = await cl.del(key, { node: 'n2', headers: { 'if-match': `"${v2}"` } });
    expect(del.status).toBe(204);
    expectError(
      await cl.put(key, 'four', { node: 'n3', headers: { 'if-match': `"${v2}"` } }),
      412,
      'precondition_failed',
    );
    const v3 = await putOk(cl, key, 'five', { node: 'n3', headers: { 'if-none-match': '*' } });
    expect([v1, v2]).not.toContain(v3);
    const final = await cl.get(key, { node: 'n1' });
    expect({ value: final.text(), etag: final.headers.etag }).toEqual({ value: 'five', etag: `"${v3}"` });
  });

  it('400 for a malformed key, header, query or session; nothing is written', async () => {
    const cl = cluster();
    expect(expectError(await cl.request('PUT', '/v1/kv/', { body: 'x' }), 400, 'bad_request')).toBe(
      'key is empty',
    );
    expectError(await cl.request('GET', '/v1/kv/'), 400, 'bad_request');
    expectError(await cl.request('DELETE', '/v1/kv/'), 400, 'bad_request');

    const longest = `k${'x'.repeat(1023)}`;
    const tooLong = `${longest}x`;
    expect(expectError(await cl.put(tooLong, 'v', { node: 'n2' }), 400, 'bad_request')).toMatch(/1025 bytes/);
    expectError(await cl.get(tooLong), 400, 'bad_request');
    // The limit counts UTF-8 bytes: 513 two-byte characters are 1026 bytes.
    expect(expectError(await cl.put('é'.repeat(513), 'v'), 400, 'bad_request')).toMatch(/1026 bytes/);
    await putOk(cl, longest, 'the longest key', { node: 'n3' });
    expect((await cl.get(longest, { node: 'n1' })).text()).toBe('the longest key');

    const key = `api/bad/${randomUUID()}`;
    const badHeaders: Record<string, string>[] = [
      { 'if-match': '42' },
      { 'if-match': '"1", "2"' },
      { 'if-none-match': '"42"' },
      { 'if-match': '"1"', 'if-none-match': '*' },
      { 'x-raft-seq': '1' },
      { 'x-raft-client': 'c', 'x-raft-seq': 'one' },
      { 'x-raft-client': 'spaces are not allowed', 'x-raft-seq': '1' },
    ];
    for (const headers of badHeaders) {
      const r = await cl.put(key, 'v', { node: 'n1', headers });
      expect({ headers, status: r.status }).toEqual({ headers, status: 400 });
      expectError(r, 400, 'bad_request');
    }
    expectError(await cl.del(key, { headers: { 'if-none-match': '*' } }), 400, 'bad_request');
    expect(expectError(await cl.request('GET', `${kvPath(key)}?consistency=bogus`), 400, 'bad_request')).toBe(
      'consistency must be "linearizable" or "stale"',
    );
    expectError(await cl.request('GET', '/v1/kv?prefix=api/&consistency=bogus'), 400, 'bad_request');
    expectError(await cl.request('GET', '/v1/kv?prefix=api/&limit=0'), 400, 'bad_request');
    expectError(await cl.request('GET', '/v1/kv?prefix=api/&limit=ten'), 400, 'bad_request');
    expectError(await cl.get(key, { node: 'n2' }), 404, 'not_found');
    expectError(await cl.request('GET', '/v1/nothing-here'), 404, 'not_found');
  });

  it('413 for a value over 1 MiB, through leader and follower; exactly 1 MiB is stored', async () => {
    const cl = cluster();
    const key = cl.keysOfShard(1, 1, 'api/large/')[0]!;
    const leader = await cl.waitLeader(1);
    for (const via of cl.ids) {
      const r = await cl.put(key, Buffer.alloc(MiB + 1, 7), { node: via });
      expect({ via, status: r.status }).toEqual({ via, status: 413 });
      expectError(r, 413, 'too_large');
    }
    expectError(await cl.get(key, { node: leader }), 404, 'not_found');
    const value = Buffer.alloc(MiB);
    for (let i = 0; i < value.length; i++) value[i] = (i * 31) & 0xff;
    const version = await putOk(cl, key, value, { node: cl.ids.find((id) => id !== leader)! });
    for (const reader of cl.ids) {
      const got = await cl.get(key, { node: reader });
      expect({ status: got.status, length: got.body.length, etag: got.headers.etag }).toEqual({
        status: 200,
        length: MiB,
        etag: `"${version}"`,
      });
      expect(got.body.equals(value)).toBe(true);
    }
  });

  it('a write retried with the same X-Raft-Client and X-Raft-Seq is applied once', async () => {
    const cl = cluster();
    const client = `it-${randomUUID()}`;
    const session = (seq: number) => ({ 'x-raft-client': client, 'x-raft-seq': String(seq) });
    const key = `api/once/${randomUUID()}`;

    const first = await putOk(cl, key, 'first', { node: 'n1', headers: session(1) });
    const other = await putOk(cl, key, 'someone else', { node: 'n2' });
    // The retry (through another node) answers the first result and does not write again.
    const retry = await cl.put(key, 'first', { node: 'n3', headers: session(1) });
    expect({ status: retry.status, body: retry.json(), etag: retry.headers.etag }).toEqual({
      status: 200,
      body: { key, version: first },
      etag: `"${first}"`,
    });
    const got = await cl.get(key, { node: 'n1' });
    expect({ value: got.text(), etag: got.headers.etag }).toEqual({
      value: 'someone else',
      etag: `"${other}"`,
    });

    // A conditional create retried after it succeeded is answered 200 again, not 412.
    const created = `api/once/${randomUUID()}`;
    const headers = { ...session(2), 'if-none-match': '*' };
    const v = await putOk(cl, created, 'created once', { node: 'n2', headers });
    for (const via of cl.ids) {
      const again = await cl.put(created, 'created once', { node: via, headers });
      expect({ status: again.status, body: again.json() }).toEqual({
        status: 200,
        body: { key: created, version: v },
      });
    }
    expectError(
      await cl.put(created, 'no session', { headers: { 'if-none-match': '*' } }),
      412,
      'precondition_failed',
    );
    const read = await cl.get(created, { node: 'n3' });
    expect({ value: read.text(), etag: read.headers.etag }).toEqual({
      value: 'created once',
      etag: `"${v}"`,
    });

    // A retry older than the 256 seqs the session remembers is refused, not applied twice.
    const sameShard = cl.keysOfShard(cl.shardOf(key), 1, `api/once/${randomUUID()}/`)[0]!;
    await putOk(cl, sameShard, 'far ahead', { headers: session(400) });
    const tooOld = await cl.put(key, 'first', { node: 'n2', headers: session(1) });
    expectError(tooOld, 400, 'bad_request');
    const unchanged = await cl.get(key);
    expect({ value: unchanged.text(), etag: unchanged.headers.etag }).toEqual({
      value: 'someone else',
      etag: `"${other}"`,
    });
  });

  it('sessions are per shard: a client numbers its writes separately in each shard', async () => {
    // README "Retrying writes exactly once": each shard keeps its own session table.
    const cl = cluster();
    const client = `it-${randomUUID()}`;
    const [a] = cl.keysOfShard(0, 1, `api/session/${randomUUID()}/`);
    const [b] = cl.keysOfShard(1, 1, `api/session/${randomUUID()}/`);
    const [c] = cl.keysOfShard(2, 1, `api/session/${randomUUID()}/`);
    const session = (seq: number) => ({ headers: { 'x-raft-client': client, 'x-raft-seq': String(seq) } });
    const inA = await putOk(cl, a!, 'shard 0 seq 1', session(1));
    // The same (client, seq) in another shard is a different write, not a retry.
    const inB = await putOk(cl, b!, 'shard 1 seq 1', session(1));
    expect((await cl.get(b!)).text()).toBe('shard 1 seq 1');
    expect((await cl.get(a!)).text()).toBe('shard 0 seq 1');
    expect([inA, inB]).toHaveLength(2);
    // A first request far past the window of a shard that never saw the client cannot be told
    // apart from a forgotten old retry: refused, nothing written.
    const r = await cl.put(c!, 'seq 300', session(300));
    expect(r.status).toBe(400);
    expect(r.json<ErrorBody>().error.code).toBe('bad_request');
    expect((await cl.get(c!)).status).toBe(404);
  });

  it('GET /v1/kv lists a prefix across all shards, sorted by UTF-8 bytes, in pages', async () => {
    const cl = cluster();
    const prefix = `api/list/${randomUUID().slice(0, 8)}/`;
    const names = [
      ...Array.from({ length: 22 }, (_, i) => `k${String(i).padStart(2, '0')}`),
      'z',
      'é',
      '\uff21',
      '😀',
    ];
    const written = new Map<string, { value: string; version: string }>();
    const shards = new Set<number>();
    for (const [i, name] of names.entries()) {
      const key = prefix + name;
      const value = `value ${i} of ${name}`;
      written.set(key, { value, version: await putOk(cl, key, value, { node: cl.ids[i % 3] }) });
      shards.add(cl.shardOf(key));
    }
    await putOk(cl, `${prefix.slice(0, -1)}-outside`, 'not listed');
    expect(shards.size).toBe(3);
    // U+FF21 (EF BC A1) sorts before U+1F600 (F0 9F 98 80) in UTF-8, unlike in UTF-16.
    const expected = [...written.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(expected.slice(-4)).toEqual([`${prefix}z`, `${prefix}é`, `${prefix}\uff21`, `${prefix}😀`]);

    type Page = { items: { key: string; value: string; version: string }[]; more: boolean; next?: string };
    for (const via of cl.ids) {
      const listed: Page['items'] = [];
      const pages: Page[] = [];
      let after: string | null = null;
      for (;;) {
        const q = new URLSearchParams({ prefix, limit: '10' });
        if (after !== null) q.set('after', after);
        const r = await cl.request('GET', `/v1/kv?${q}`, { node: via });
        expect(r.status).toBe(200);
        const page = r.json<Page>();
        pages.push(page);
        listed.push(...page.items);
        if (!page.more) break;
        expect(page.next).toBe(page.items.at(-1)!.key);
        after = page.next!;
      }
      expect(pages.map((p) => [p.items.length, p.more])).toEqual([
        [10, true],
        [10, true],
        [6, false],
      ]);
      expect(pages.at(-1)).not.toHaveProperty('next');
      expect(listed.map((i) => i.key)).toEqual(expected);
      for (const item of listed) {
        const w = written.get(item.key)!;
        expect({ value: Buffer.from(item.value, 'base64').toString('utf8'), version: item.version }).toEqual(
          w,
        );
      }
    }
  });

  it('healthz, readyz, metrics, status and the cluster map', async () => {
    const cl = cluster();
    const leaders = await cl.waitBalanced();
    const clusterIds = new Set<string>();
    for (const id of cl.ids) {
      const health = await cl.request('GET', '/healthz', { node: id });
      expect({ status: health.status, body: health.json() }).toEqual({ status: 200, body: { ok: true, id } });
      const ready = await cl.request('GET', '/readyz', { node: id });
      expect({ status: ready.status, body: ready.json() }).toEqual({
        status: 200,
        body: { ready: true, id },
      });

      const status = await cl.status(id);
      expect(status.id).toBe(id);
      expect(status.groups.map((g) => [g.shard, g.members, g.id])).toEqual(
        [0, 1, 2].map((s) => [s, cl.membersOf(s), id]),
      );
      for (const g of status.groups) {
        expect({ role: g.role, leader: g.leader }).toEqual({
          role: leaders[g.shard] === id ? 'leader' : 'follower',
          leader: leaders[g.shard],
        });
        expect(g.lastIndex).toBeGreaterThanOrEqual(g.commit);
      }

      const metrics = await cl.request('GET', '/metrics', { node: id });
      expect(metrics.status).toBe(200);
      expect(metrics.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = metrics.text();
      const after = await cl.status(id);
      for (const g of after.groups) {
        expect(text).toContain(`raftkv_raft_term{shard="${g.shard}"} ${g.term}\n`);
        expect(text).toContain(`raftkv_raft_is_leader{shard="${g.shard}"} ${g.role === 'leader' ? 1 : 0}\n`);
      }
      expect(text).toMatch(
        /^raftkv_http_requests_total\{method="GET",route="\/healthz",status="200"\} [1-9]/m,
      );

      const map = await cl.request('GET', '/v1/cluster', { node: id });
      expect(map.status).toBe(200);
      const body = map.json<{
        clusterId: string;
        nodes: unknown;
        shards: { shard: number; members: string[]; leader: string | null; term: number | null }[];
        ring: unknown;
      }>();
      clusterIds.add(body.clusterId);
      expect(body.nodes).toEqual(cl.nodes.map((n) => ({ ...n, state: 'active' })));
      expect(body.ring).toEqual({ algorithm: 'md5-53', shards: 3, pointsPerShard: 1024 });
      expect(body.shards).toEqual(
        after.groups.map((g) => ({
          shard: g.shard,
          members: cl.membersOf(g.shard),
          voters: cl.membersOf(g.shard),
          learners: [],
          leader: leaders[g.shard],
          term: g.term,
        })),
      );
    }
    expect(clusterIds.size).toBe(1);
    expect([...clusterIds][0]).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);
  });

  it('503 with Retry-After when no leader is known (two nodes paused); stale reads still answer', async () => {
    const cl = cluster();
    const key = `api/unavailable/${randomUUID()}`;
    const version = await putOk(cl, key, 'before the pause');
    const [alive, ...paused] = cl.ids as [string, string, string];
    await cl.waitFor(async () => (await cl.get(key, { node: alive, stale: true })).status === 200, {
      what: `${alive} to apply ${key}`,
    });
    for (const id of paused) cl.pause(id);
    try {
      // Check-quorum steps a lone leader down, and a follower that hears no leader forgets it.
      await cl.waitFor(
        async () => (await cl.status(alive)).groups.every((g) => g.leader === null && g.role !== 'leader'),
        { timeoutMs: 5_000, what: `${alive} to know no leader of any shard` },
      );
      const known = await cl.status(alive);
      for (let shard = 0; shard < cl.shards; shard++) {
        const k = cl.keysOfShard(shard, 1, 'api/unavailable/write/')[0]!;
        const w = await cl.put(k, 'v', { node: alive });
        expect(expectError(w, 503, 'unavailable')).toBe(`no leader known for shard ${shard}`);
        const { term, applied } = known.groups.find((g) => g.shard === shard)!;
        expectProvenance(w, { shard, node: alive, term, index: applied });
        expect(w.elapsedMs).toBeLessThan(1_000);
        expectError(await cl.get(k, { node: alive }), 503, 'unavailable');
        expectError(await cl.del(k, { node: alive }), 503, 'unavailable');
      }
      const stale = await cl.get(key, { node: alive, stale: true });
      expect({ status: stale.status, value: stale.text(), etag: stale.headers.etag }).toEqual({
        status: 200,
        value: 'before the pause',
        etag: `"${version}"`,
      });
      expect(stale.headers['x-raft-node']).toBe(alive);
    } finally {
      for (const id of paused) cl.resume(id);
    }
    await cl.waitReady();
    await cl.waitBalanced();
    // Nothing was done by the refused writes.
    for (let shard = 0; shard < cl.shards; shard++) {
      const k = cl.keysOfShard(shard, 1, 'api/unavailable/write/')[0]!;
      expectError(await cl.get(k), 404, 'not_found');
    }
  });
});
