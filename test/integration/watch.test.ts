/**
 * Watching changes (README "Watching changes"), with real processes: a watcher through the client
 * library sees every acknowledged write of its prefix once, in commit order per key, across the
 * SIGKILL of the node it was connected to (it resumes through another with its cursor); a cursor
 * older than the history kept gets 410 compacted; bad input is refused with the catalogue; a
 * watcher that does not read is ended with too_slow.
 */

import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RaftKV, type WatchEvent } from '../../src/client/index.js';
import { type ErrorBody, useCluster } from './harness.js';

const historyEvents = 300;

describe('watch', () => {
  const cluster = useCluster({ name: 'watch', shards: 3, tuning: { watchHistoryEvents: historyEvents } });

  it('sees every acknowledged change once, in order per key, across the death of its node', async () => {
    const cl = cluster();
    const kv = new RaftKV({ endpoints: cl.nodes.map((n) => n.api) });
    const stop = new AbortController();
    const seen: WatchEvent[] = [];
    let firstCursor: string | null = null;
    const watching = (async () => {
      for await (const e of kv.watch('w/', { signal: stop.signal })) {
        firstCursor ??= e.cursor;
        seen.push(e);
      }
    })().catch((err: unknown) => {
      if (!stop.signal.aborted) throw err;
    });
    // Give the watch its start, then write: 60 keys, each put twice and some deleted.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const acked = new Map<string, { type: string; version: string }[]>();
    const note = (key: string, type: string, version: string) =>
      acked.set(key, [...(acked.get(key) ?? []), { type, version }]);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 60; i++) {
        if (round === 1 && i === 30) await cl.kill(cl.ids[0]!); // the node the watcher reads from
        const key = `w/${i}`;
        const r = await kv.put(key, `v${round}-${i}`);
        note(key, 'put', r.version);
      }
    }
    for (let i = 0; i < 60; i += 7) {
      await kv.delete(`w/${i}`);
      note(`w/${i}`, 'delete', '');
    }
    await kv.put('other/x', 'not watched');
    const wanted = [...acked.values()].reduce((n, l) => n + l.length, 0);
    const deadline = Date.now() + 20_000;
    while (seen.length < wanted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stop.abort();
    await watching;

    const byKey = new Map<string, { type: string; version: string }[]>();
    for (const e of seen)
      byKey.set(e.key, [...(byKey.get(e.key) ?? []), { type: e.type, version: e.version }]);
    for (const [key, writes] of acked) {
      const got = byKey.get(key) ?? [];
      expect(
        got.map((g) => g.type),
        key,
      ).toEqual(writes.map((w) => w.type));
      const puts = writes.filter((w) => w.type === 'put').map((w) => w.version);
      expect(
        got.filter((g) => g.type === 'put').map((g) => g.version),
        key,
      ).toEqual(puts);
    }
    expect(seen.some((e) => e.key === 'other/x')).toBe(false);
    expect(seen.length).toBe(wanted);
    // Per shard, strictly increasing indexes: nothing repeated after the resume.
    for (let s = 0; s < 3; s++) {
      const idx = seen.filter((e) => e.shard === s).map((e) => e.index);
      expect(idx).toEqual([...idx].sort((a, b) => a - b));
      expect(new Set(idx).size).toBe(idx.length);
    }

    // Far more changes than the history keeps: the first cursor is now compacted.
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        for (let i = w; i < historyEvents * 4; i += 16) await kv.put(`w/flood/${i}`, 'x');
      }),
    );
    const resumed = kv.watch('w/', { cursor: firstCursor! });
    await expect(resumed.next()).rejects.toMatchObject({ code: 'compacted', status: 410 });
    await kv.close();
  }, 120_000);

  it('refuses bad input with the catalogue', async () => {
    const cl = cluster();
    const node = cl.running()[0]!;
    const cases: [string, number, RegExp][] = [
      ['/v1/watch', 400, /prefix is required/],
      ['/v1/watch?prefix=', 400, /prefix is required/],
      [`/v1/watch?prefix=${'k'.repeat(1100)}`, 400, /longer than a key/],
      ['/v1/watch?prefix=a&cursor=nonsense', 400, /does not parse/],
      ['/v1/watch?prefix=a&cursor=00000000.1.2.3', 400, /another cluster/],
      ['/v1/watch?prefix=a&shard=9', 400, /does not exist/],
    ];
    for (const [path, status, message] of cases) {
      const r = await cl.request('GET', path, { node });
      expect(r.status, path).toBe(status);
      expect(r.json<ErrorBody>().error.message, path).toMatch(message);
    }
  });

  it('ends a watcher that does not read with too_slow', async () => {
    const cl = cluster();
    const node = cl.running()[0]!;
    const url = new URL(cl.spec(node).api);
    const socket = connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(`GET /v1/watch?prefix=slow/ HTTP/1.1\r\nhost: ${url.host}\r\n\r\n`);
    socket.pause();
    const kv = new RaftKV({ endpoints: cl.running().map((id) => cl.spec(id).api) });
    const big = Buffer.alloc(512 * 1024, 'x');
    const t0 = Date.now();
    for (let i = 0; i < 60; i++) await kv.put(`slow/${i % 5}`, big);
    console.log(`[watch] 60 PUTs of 512 KiB in ${Date.now() - t0} ms`);
    await kv.close();
    let text = '';
    socket.setEncoding('latin1');
    socket.resume();
    const ending = 'event: error\ndata: {"code":"too_slow"}';
    await new Promise<void>((resolve) => {
      socket.on('data', (c: string) => {
        text += c;
        if (text.includes(ending)) resolve();
      });
      socket.on('close', () => resolve());
    });
    socket.destroy();
    expect(text.startsWith('HTTP/1.1 200')).toBe(true);
    expect(text).toContain(ending);
  }, 60_000);
});

describe('watch through a node without a replica of every shard', () => {
  // One replica per shard: each node hosts one shard, and relays the other two from their nodes.
  const cluster = useCluster({ name: 'watch-relay', shards: 3, replicas: 1 });

  it('relays the shards it does not host, and resumes them from a cursor', async () => {
    const cl = cluster();
    const via = cl.ids[0]!;
    const kv = new RaftKV({ endpoints: [cl.spec(via).api] });
    const writer = new RaftKV({ endpoints: cl.nodes.map((n) => n.api) });
    const stop = new AbortController();
    const seen: WatchEvent[] = [];
    const watching = (async () => {
      for await (const e of kv.watch('r/', { signal: stop.signal })) seen.push(e);
    })().catch((err: unknown) => {
      if (!stop.signal.aborted) throw err;
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const keys = Array.from({ length: 30 }, (_, i) => `r/${i}`);
    for (const key of keys) await writer.put(key, `${key}!`);
    const deadline = Date.now() + 10_000;
    while (seen.length < keys.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stop.abort();
    await watching;
    expect(seen.map((e) => e.key).sort()).toEqual([...keys].sort());
    expect(new Set(seen.map((e) => e.shard))).toEqual(new Set([0, 1, 2]));

    // From the cursor after the 10th event: exactly the 20 that came after it, relayed again.
    const from = seen[9]!.cursor;
    const again: WatchEvent[] = [];
    const resumeStop = new AbortController();
    const resumed = (async () => {
      for await (const e of kv.watch('r/', { cursor: from, signal: resumeStop.signal })) again.push(e);
    })().catch((err: unknown) => {
      if (!resumeStop.signal.aborted) throw err;
    });
    const until = Date.now() + 10_000;
    while (again.length < 20 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    resumeStop.abort();
    await resumed;
    expect(again.map((e) => e.key).sort()).toEqual(
      seen
        .slice(10)
        .map((e) => e.key)
        .sort(),
    );
    await kv.close();
    await writer.close();
  }, 60_000);
});
