/**
 * Leases and keys that expire (README), with real processes: keys of one lease on every shard,
 * kept alive through the client library across the SIGKILL of a shard leader, then revoked (a
 * watcher sees each shard's deletes at one index); an abandoned lease whose keys go by
 * themselves once its time to live has passed, and not before; bad input refused with the
 * catalogue, nothing changed.
 */

import { describe, expect, it } from 'vitest';
import { RaftKV, type WatchEvent } from '../../src/client/index.js';
import { loadClusterConfig } from '../../src/config/cluster-file.js';
import { type ErrorBody, kvPath, useCluster, waitFor } from './harness.js';

/** At least 12 keys, and enough that every one of the three shards holds some. */
function keysOnEveryShard(prefix: string, shardOf: (key: string) => number): string[] {
  const keys: string[] = [];
  const shards = new Set<number>();
  for (let i = 0; shards.size < 3 || keys.length < 12; i++) {
    const key = `${prefix}${i}`;
    keys.push(key);
    shards.add(shardOf(key));
  }
  return keys;
}

const text = (v: Uint8Array | undefined) => (v === undefined ? null : Buffer.from(v).toString());

describe('leases', () => {
  const cluster = useCluster({ name: 'leases', shards: 3 });

  it('a lease kept alive by the client holds its keys on every shard across a leader kill; revoking deletes them, each shard at one index', async () => {
    const cl = cluster();
    const kv = new RaftKV({ endpoints: cl.nodes.map((n) => n.api) });
    const shardOf = (key: string) => cl.shardOf(key);
    const keys = keysOnEveryShard('svc/', shardOf);
    const stop = new AbortController();
    const seen: WatchEvent[] = [];
    const watching = (async () => {
      for await (const e of kv.watch('svc/', { signal: stop.signal })) seen.push(e);
    })().catch((err: unknown) => {
      if (!stop.signal.aborted) throw err;
    });

    const lease = await kv.lease(1_500);
    expect(lease.id).toMatch(/^[0-9a-f]{12}$/);
    for (const key of keys) await kv.put(key, `at ${key}`, { lease: lease.id });
    // A shard leader dies; the lease renews itself through the others and the new leader.
    const leader = await cl.waitLeader(shardOf(keys[0]!));
    await cl.kill(leader);
    const killedAt = Date.now();
    await waitFor(() => Date.now() - killedAt > 4_000, { timeoutMs: 10_000, what: '4 s of renewals' });
    expect(lease.alive).toBe(true);
    for (const key of keys) expect(text((await kv.get(key))?.value), key).toBe(`at ${key}`);
    expect(seen.filter((e) => e.type === 'delete')).toEqual([]);

    await lease.close();
    for (const key of keys) expect(await kv.get(key), key).toBe(null);
    await waitFor(() => seen.filter((e) => e.type === 'delete').length === keys.length, {
      what: 'a delete event for every key',
    });
    // Each shard deleted its keys of the lease in one entry: one index per shard.
    const deletes = seen.filter((e) => e.type === 'delete');
    expect(new Set(deletes.map((e) => e.key))).toEqual(new Set(keys));
    for (const s of [0, 1, 2])
      expect(new Set(deletes.filter((e) => e.shard === s).map((e) => e.index)).size).toBe(1);
    // A watcher resuming from inside one shard's deletes gets exactly the rest of them, and the later ones.
    const from = deletes.findIndex((e, i) => deletes.slice(i + 1).some((o) => o.shard === e.shard));
    const rest = seen.slice(seen.indexOf(deletes[from]!) + 1);
    expect(deletes[from]!.cursor).toMatch(/~1/);
    const resumed: WatchEvent[] = [];
    const again = new AbortController();
    for await (const e of kv.watch('svc/', { cursor: deletes[from]!.cursor, signal: again.signal })) {
      resumed.push(e);
      if (resumed.length === rest.length) break;
    }
    expect(resumed.map((e) => [e.type, e.key, e.index])).toEqual(rest.map((e) => [e.type, e.key, e.index]));
    // Gone: a put under it and a keepalive are 404.
    await expect(kv.put('svc/late', 'x', { lease: lease.id })).rejects.toMatchObject({ code: 'not_found' });
    await expect(kv.keepAlive(lease.id)).rejects.toMatchObject({ code: 'not_found' });
    expect(await kv.get('svc/late')).toBe(null);
    stop.abort();
    await watching;
    await cl.start(leader);
    await kv.close();
  }, 120_000);

  it('an abandoned lease: its keys go once its time to live has passed (not before), the others stay', async () => {
    const cl = cluster();
    await cl.waitReady();
    const kv = new RaftKV({ endpoints: cl.running().map((id) => cl.spec(id).api) });
    const keys = keysOnEveryShard('lock/', (k) => cl.shardOf(k));
    const ttlMs = 2_000;
    const { lease } = await kv.grantLease(ttlMs);
    const kept = await kv.lease(60_000);
    for (const key of keys) await kv.put(key, 'held', { lease });
    await kv.put('lock/kept', 'kept', { lease: kept.id });
    await kv.put('lock/plain', 'plain');
    const sentAt = Date.now();
    await kv.keepAlive(lease);
    const ackedAt = Date.now();
    // Still there just before the time to live (what is left after our own reads).
    await waitFor(() => Date.now() - sentAt > ttlMs - 400, { timeoutMs: ttlMs, what: 'most of the ttl' });
    for (const key of keys) expect(await kv.get(key), key).not.toBe(null);
    const goneAt = await waitFor(
      async () => {
        for (const key of keys) if ((await kv.get(key)) !== null) return null;
        return Date.now();
      },
      { timeoutMs: 10_000, intervalMs: 20, what: 'the lease keys gone' },
    );
    const config = loadClusterConfig(cl.configPath);
    const electionTimeoutMs = config.electionTicks * config.tickMs;
    console.log(`[leases] keys gone ${goneAt - ackedAt} ms after the last renewal (ttl ${ttlMs} ms)`);
    // Never before the ttl counted from when the renewal was sent; soon after it (a real clock:
    // a generous bound for a loaded machine; the exact bound is test/unit/node/lease-expiry).
    expect(goneAt - sentAt).toBeGreaterThanOrEqual(ttlMs);
    expect(goneAt - ackedAt).toBeLessThan(ttlMs + electionTimeoutMs + 2_000);
    expect(text((await kv.get('lock/kept'))?.value)).toBe('kept');
    expect(text((await kv.get('lock/plain'))?.value)).toBe('plain');
    await expect(kv.keepAlive(lease)).rejects.toMatchObject({ code: 'not_found' });
    // Each shard's leader counted its expiry.
    let expired = 0;
    for (const id of cl.running()) {
      const text = (await cl.request('GET', '/metrics', { node: id })).text();
      for (const m of text.matchAll(/^raftkv_leases_expired_total\{shard="\d+"\} (\d+)$/gm))
        expired += Number(m[1]);
    }
    expect(expired).toBeGreaterThanOrEqual(3);
    await kept.close();
    expect(await kv.get('lock/kept')).toBe(null);
    await kv.close();
  }, 60_000);

  it('reports a lease lost when it was revoked elsewhere', async () => {
    const cl = cluster();
    const kv = new RaftKV({ endpoints: cl.running().map((id) => cl.spec(id).api) });
    const lease = await kv.lease(1_200);
    await kv.put('mine/a', 'x', { lease: lease.id });
    const other = new RaftKV({ endpoints: cl.running().map((id) => cl.spec(id).api) });
    await other.revokeLease(lease.id);
    const err = await lease.lost;
    expect(err.code).toBe('not_found');
    expect(lease.alive).toBe(false);
    expect(await kv.get('mine/a')).toBe(null);
    await lease.close();
    await other.close();
    await kv.close();
  }, 30_000);

  it('refuses bad input with the catalogue, changing nothing', async () => {
    const cl = cluster();
    const node = cl.running()[0]!;
    const cases: [string, string, string | undefined, number, RegExp][] = [
      ['POST', '/v1/leases', '{"ttlMs":999}', 400, /ttlMs must be an integer from 1000 to 86400000/],
      ['POST', '/v1/leases', '{"ttlMs":86400001}', 400, /ttlMs must be/],
      ['POST', '/v1/leases', '{"ttlMs":"2000"}', 400, /ttlMs must be/],
      ['POST', '/v1/leases', '{}', 400, /ttlMs must be/],
      ['POST', '/v1/leases', 'not json', 400, /JSON object/],
      ['POST', '/v1/leases/000000abcdef/keepalive', undefined, 404, /lease 000000abcdef not found/],
      ['DELETE', '/v1/leases/000000abcdef', undefined, 404, /lease 000000abcdef not found/],
      ['POST', '/v1/leases/xyz/keepalive', undefined, 400, /1-12 hex digits/],
      ['DELETE', '/v1/leases/0', undefined, 400, /1-12 hex digits/],
      ['PUT', `${kvPath('bad/lease')}?lease=000000abcdef`, 'v', 404, /lease 000000abcdef not found/],
      ['PUT', `${kvPath('bad/lease')}?lease=nope`, 'v', 400, /lease must be a lease id/],
    ];
    for (const [method, path, body, status, message] of cases) {
      const r = await cl.request(method, path, { node, ...(body === undefined ? {} : { body }) });
      expect(r.status, `${method} ${path}`).toBe(status);
      expect(r.json<ErrorBody>().error.message, `${method} ${path}`).toMatch(message);
    }
    expect((await cl.get('bad/lease')).status).toBe(404);
  });
});
