import { afterAll, describe, expect, it } from 'vitest';
import { RaftKV, RaftKVError } from '../../src/client/index.js';
import { useCluster } from './harness.js';
import { LossyProxies } from './lossy-proxy.js';

/** Sum of a counter over every running node's /metrics. */
async function counter(c: ReturnType<ReturnType<typeof useCluster>>, name: string): Promise<number> {
  let total = 0;
  for (const id of c.running()) {
    const text = (await c.request('GET', '/metrics', { node: id })).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    total += line === undefined ? 0 : Number(line.split(' ')[1]);
  }
  return total;
}

describe('shards, the client library and balanced leaders (3 nodes, 3 shards)', () => {
  const cluster = useCluster({ name: 'sharding' });
  let kv: RaftKV | null = null;
  const client = () => {
    kv ??= new RaftKV({ endpoints: cluster().nodes.map((n) => n.api) });
    return kv;
  };
  afterAll(async () => kv?.close());

  it('in steady state each node leads exactly one shard', async () => {
    const leaders = await cluster().waitBalanced();
    expect([...leaders].sort()).toEqual(['n1', 'n2', 'n3']);
  });

  it('the client library sends requests straight to leaders: under 1% forwarded after warm-up', async () => {
    const kv = client();
    for (let i = 0; i < 30; i++) await kv.put(`warm/${i}`, 'w');
    const before = await counter(cluster(), 'raftkv_forwarded_requests_total');
    const ops = 600;
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        // Each worker writes its key, then reads it back, ops / 8 requests in all.
        for (let j = 0; j < ops / 8; j += 2) {
          const written = await kv.put(`direct/${w}`, `v${j}`);
          expect((await kv.get(`direct/${w}`))?.version).toBe(written.version);
        }
      }),
    );
    const forwarded = (await counter(cluster(), 'raftkv_forwarded_requests_total')) - before;
    console.log(`[sharding] ${forwarded} of ${ops} requests forwarded by a node`);
    expect(forwarded / ops).toBeLessThan(0.01);
  });

  it('puts, gets, deletes and conditional writes through the library, with typed results and errors', async () => {
    const kv = client();
    const created = await kv.put('lib/a', 'one', { ifNoneMatch: true });
    expect(created.key).toBe('lib/a');
    expect(created.shard).toBe(cluster().shardOf('lib/a'));
    await expect(kv.put('lib/a', 'two', { ifNoneMatch: true })).rejects.toMatchObject({
      name: 'RaftKVError',
      code: 'precondition_failed',
      status: 412,
      outcomeUnknown: false,
    });
    const updated = await kv.put('lib/a', 'two', { ifMatch: created.version });
    const got = await kv.get('lib/a');
    expect(Buffer.from(got!.value).toString()).toBe('two');
    expect(got!.version).toBe(updated.version);
    const stale = await kv.get('lib/a', { consistency: 'stale' });
    expect(cluster().membersOf(got!.shard)).toContain(stale!.node);
    await expect(kv.delete('lib/a', { ifMatch: created.version })).rejects.toBeInstanceOf(RaftKVError);
    expect(await kv.delete('lib/a', { ifMatch: updated.version })).toBe(true);
    expect(await kv.delete('lib/a')).toBe(false);
    expect(await kv.get('lib/a')).toBe(null);
  });

  it('stale reads spread round-robin over the shard replicas', async () => {
    const kv = client();
    const written = await kv.put('rr/key', 'x');
    // A stale read may be stale: wait until every replica has applied the write.
    await cluster().waitFor(
      async () => {
        for (const id of cluster().membersOf(written.shard)) {
          if ((await cluster().groupStatus(id, written.shard)).applied < written.index) return null;
        }
        return true;
      },
      { what: 'every replica applied the write' },
    );
    const served = new Set<string>();
    for (let i = 0; i < 6; i++) served.add((await kv.get('rr/key', { consistency: 'stale' }))!.node);
    expect([...served].sort()).toEqual(cluster().membersOf(cluster().shardOf('rr/key')).sort());
  });

  it('a prefix listing over 3 shards returns every matching key once, in order, across pages', async () => {
    const kv = client();
    const keys = Array.from({ length: 130 }, (_, i) => `scan/${String(i).padStart(3, '0')}`);
    await Promise.all(keys.map((k) => kv.put(k, k)));
    await kv.put('scanx', 'not under the prefix');
    expect(new Set(keys.map((k) => cluster().shardOf(k))).size).toBe(3);
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 20; page++) {
      const r = await kv.list('scan/', { limit: 40, ...(after === undefined ? {} : { after }) });
      for (const item of r.items) {
        expect(Buffer.from(item.value).toString()).toBe(item.key);
        seen.push(item.key);
      }
      if (!r.more) break;
      after = r.next!;
    }
    expect(seen).toEqual(keys);
  });

  it('after SIGKILL of a node and its return, each node leads one shard again within 10 s', async () => {
    const c = cluster();
    const victim = 'n2';
    const led = (await c.waitBalanced()).indexOf(victim);
    await c.kill(victim);
    await c.waitLeader(led, { not: victim });
    await c.start(victim);
    const restarted = performance.now();
    const leaders = await c.waitBalanced({ timeoutMs: 10_000 });
    const ms = performance.now() - restarted;
    console.log(`[sharding] leaders balanced again ${ms.toFixed(0)} ms after ${victim} returned`);
    expect([...leaders].sort()).toEqual(['n1', 'n2', 'n3']);
    expect(ms).toBeLessThan(10_000);
  });
});

describe('exactly-once writes when an acknowledgement is lost', () => {
  const cluster = useCluster({ name: 'exactly-once' });

  it('a retried conditional write is applied once and answered with its first result', async () => {
    const proxies = await LossyProxies.start(cluster().nodes);
    const kv = new RaftKV({ endpoints: [...proxies.urls.values()] });
    try {
      await kv.put('once/warm', 'w');
      let dropsLeft = 1;
      proxies.dropAnswer = (r) => r.method === 'PUT' && r.url.includes('once%2Fkey') && dropsLeft-- > 0;
      const result = await kv.put('once/key', 'v1', { ifNoneMatch: true });
      expect(proxies.dropped).toBe(1);
      const got = await kv.get('once/key');
      expect(Buffer.from(got!.value).toString()).toBe('v1');
      // Applied once: the answer the retry got is the first application's, not a 412 and not a second write.
      expect(result.version).toBe(got!.version);
      const log = await kv.list('once/key', { limit: 10 });
      expect(log.items.map((i) => [i.key, i.version])).toEqual([['once/key', got!.version]]);
    } finally {
      await kv.close();
      await proxies.close();
    }
  });

  it('an unconditional retried write does not create a second version', async () => {
    const proxies = await LossyProxies.start(cluster().nodes);
    const kv = new RaftKV({ endpoints: [...proxies.urls.values()] });
    try {
      const first = await kv.put('once/plain', 'a');
      let dropsLeft = 2;
      proxies.dropAnswer = (r) => r.method === 'PUT' && r.url.includes('once%2Fplain') && dropsLeft-- > 0;
      const second = await kv.put('once/plain', 'b');
      expect(proxies.dropped).toBe(2);
      const got = await kv.get('once/plain');
      expect(got!.version).toBe(second.version);
      // One write of 'b' after 'a': the version moved once. A second application would make the
      // stored version newer than the one the client was told.
      expect(Number(second.version)).toBeGreaterThan(Number(first.version));
    } finally {
      await kv.close();
      await proxies.close();
    }
  });
});
