/**
 * Lease expiry across leader changes, on three in-memory nodes run in virtual time: every node's
 * clock is one the test advances itself (a tick at a time, settling all messages and drive-loop
 * turns in between), so the bounds below are exact in the cluster's own time, however slow the
 * machine running the test. Shows README "Leases and keys that expire": a lease kept alive never
 * expires while a quorum is up, and an abandoned lease's keys are gone within its time to live
 * plus one election timeout, never before its time to live, across five leadership transfers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { KVCommand, KVResult } from '../../../src/kv/index.js';
import type { Cancel, Clock } from '../../../src/node/clock.js';
import type { RaftKVNode } from '../../../src/node/node.js';
import { createRng } from '../../../src/raft/rng.js';
import { InMemoryCluster } from './in-memory-cluster.js';

/** A node's clock in virtual time: callbacks run only when the test calls `runDue`. */
class VirtualClock implements Clock {
  #soon: (() => void)[] = [];
  #timers: { due: number; every: number | null; fn: () => void; off: boolean }[] = [];
  constructor(private readonly time: { now: number }) {}
  now(): number {
    return this.time.now;
  }
  every(ms: number, fn: () => void): Cancel {
    return this.#add({ due: this.time.now + ms, every: ms, fn, off: false });
  }
  after(ms: number, fn: () => void): Cancel {
    return this.#add({ due: this.time.now + ms, every: null, fn, off: false });
  }
  soon(fn: () => void): void {
    this.#soon.push(fn);
  }
  /** Runs what is due; true if anything ran. */
  runDue(): boolean {
    let ran = false;
    for (const t of [...this.#timers]) {
      if (t.off || t.due > this.time.now) continue;
      if (t.every === null) t.off = true;
      else t.due = this.time.now + t.every;
      t.fn();
      ran = true;
    }
    this.#timers = this.#timers.filter((t) => !t.off);
    const soon = this.#soon;
    this.#soon = [];
    for (const fn of soon) fn();
    return ran || soon.length > 0;
  }
  #add(t: { due: number; every: number | null; fn: () => void; off: boolean }): Cancel {
    this.#timers.push(t);
    return () => {
      t.off = true;
    };
  }
}

const tickMs = 10;
const electionTicks = 10;
const electionTimeoutMs = tickMs * electionTicks;
const ids = ['n1', 'n2', 'n3'];
const turn = () => new Promise<void>((r) => setImmediate(r));

class VirtualCluster {
  readonly time = { now: 1_000_000 };
  readonly clocks = new Map<string, VirtualClock>();
  readonly cluster = new InMemoryCluster(ids, 1, { tickMs, electionTicks, requestTimeoutMs: 2_000 });

  constructor() {
    this.cluster.clockFor = (id) => {
      const c = new VirtualClock(this.time);
      this.clocks.set(id, c);
      return c;
    };
  }

  /** Runs every due callback and delivers every message until nothing moves at this instant. */
  async settle(): Promise<void> {
    for (let quiet = 0; quiet < 3; ) {
      let ran = false;
      for (const c of this.clocks.values()) ran = c.runDue() || ran;
      await turn();
      quiet = ran ? 0 : quiet + 1;
    }
  }

  /** Advances virtual time by `ms`, a millisecond at a time, settling at each. */
  async advance(ms: number): Promise<void> {
    for (let i = 0; i < ms; i++) {
      this.time.now += 1;
      await this.settle();
    }
  }

  /** Advances time until `done()` holds; throws after `limitMs` of virtual time. */
  async until(done: () => boolean, limitMs: number, what: string): Promise<void> {
    const end = this.time.now + limitMs;
    while (!done()) {
      if (this.time.now >= end) throw new Error(`${what}: not within ${limitMs} ms of cluster time`);
      await this.advance(1);
    }
  }

  /** Advances time until `p` settles and returns its outcome. */
  async run<T>(p: Promise<T>, limitMs = 5_000): Promise<T> {
    let out: { ok: true; v: T } | { ok: false; e: unknown } | null = null;
    p.then(
      (v) => (out = { ok: true, v }),
      (e) => (out = { ok: false, e }),
    );
    await this.until(() => out !== null, limitMs, 'the request');
    const o = out as unknown as { ok: true; v: T } | { ok: false; e: unknown };
    if (!o.ok) throw o.e;
    return o.v;
  }

  leader(): RaftKVNode | null {
    const leaders = [...this.cluster.nodes.values()].filter((n) => n.groupStatus(0)?.role === 'leader');
    return leaders.length === 1 ? leaders[0]! : null;
  }

  async settledLeader(): Promise<RaftKVNode> {
    await this.until(() => this.leader() !== null, 5_000, 'a leader');
    return this.leader()!;
  }

  /** Proposes on the current leader, again on the next leader if leadership moved meanwhile. */
  async propose(cmd: KVCommand): Promise<KVResult> {
    for (let attempt = 0; ; attempt++) {
      const leader = await this.settledLeader();
      try {
        return (await this.run(leader.propose(0, cmd))).result;
      } catch (err) {
        if (attempt === 5) throw err;
      }
    }
  }

  #transfers = 0;

  /** Moves shard 0's leadership to another voter (each in turn) and waits until that one leads. */
  async transfer(): Promise<string> {
    const from = await this.settledLeader();
    const others = ids.filter((id) => id !== from.id);
    const to = others[this.#transfers++ % others.length]!;
    from.groups.get(0)!.raft.transferLeadership(to);
    await this.until(() => this.leader()?.id === to, 2_000, `leadership moving to ${to}`);
    return to;
  }

  /** The key's value as every node's replica holds it (null where absent). */
  everywhere(key: string): (string | null)[] {
    return ids.map((id) => {
      const e = this.cluster.nodes.get(id)!.groups.get(0)!.sm.get(key);
      return e === null ? null : Buffer.from(e.value).toString();
    });
  }
}

const put = (key: string, lease: number): KVCommand => ({
  op: 'put',
  key,
  value: Buffer.from(`v-${key}`),
  cond: { ifMatch: null, ifNoneMatch: false },
  session: null,
  lease,
});

let vc: VirtualCluster;

afterEach(async () => {
  // Stopping waits on the nodes' clocks too: time goes on meanwhile.
  await vc.run(vc.cluster.stopAll());
});

async function started(): Promise<VirtualCluster> {
  vc = new VirtualCluster();
  for (const id of ids) await vc.cluster.start(id);
  await vc.settledLeader();
  return vc;
}

describe('lease expiry with leader changes (virtual time)', () => {
  it('a lease kept alive never expires while a quorum is up, across 5 leadership transfers', async () => {
    const c = await started();
    const ttlMs = 1_000;
    expect(await c.propose({ op: 'leaseGrant', lease: 11, ttlMs })).toEqual({ ok: true, op: 'lease', ttlMs });
    expect(await c.propose(put('svc/a', 11))).toMatchObject({ ok: true, op: 'put' });
    const leaders = new Set<string>();
    let transfers = 0;
    // 8 s of cluster time: a keepalive every 300 ms (ttl / 3), a transfer every 1.5 s.
    for (let t = 0; t < 8_000; t += 300) {
      const renewed = await c.propose({ op: 'leaseKeepalive', lease: 11 });
      expect(renewed).toEqual({ ok: true, op: 'lease', ttlMs });
      if (t % 1_500 < 300 && transfers < 5) {
        leaders.add(await c.transfer());
        transfers++;
      }
      await c.advance(300);
      expect(c.everywhere('svc/a')).toEqual(['v-svc/a', 'v-svc/a', 'v-svc/a']);
    }
    expect(transfers).toBe(5);
    expect(leaders.size).toBeGreaterThanOrEqual(2);
    for (const id of ids) expect(c.cluster.nodes.get(id)!.groups.get(0)!.sm.leaseTtl(11)).toBe(ttlMs);
  }, 120_000);

  it('an abandoned 2 s lease: keys gone within 2 s + one election timeout of its last keepalive, not before 2 s, across 5 leadership transfers', async () => {
    const c = await started();
    const ttlMs = 2_000;
    await c.propose({ op: 'leaseGrant', lease: 22, ttlMs });
    await c.propose(put('lock/a', 22));
    await c.propose({ op: 'leaseGrant', lease: 33, ttlMs: 60_000 });
    await c.propose(put('other', 33));
    const sentAt = c.time.now;
    await c.propose({ op: 'leaseKeepalive', lease: 22 });
    const ackedAt = c.time.now;
    // Five transfers while the lease runs out, the last one 100 ms before it does.
    const transfersAt = [300, 700, 1_100, 1_500, 1_900];
    for (const at of transfersAt) {
      await c.advance(Math.max(0, ackedAt + at - c.time.now));
      await c.transfer();
      expect(c.everywhere('lock/a')).toEqual(['v-lock/a', 'v-lock/a', 'v-lock/a']);
    }
    expect(c.time.now).toBeLessThan(sentAt + ttlMs);
    await c.until(
      () => c.everywhere('lock/a').every((v) => v === null),
      ttlMs + electionTimeoutMs + 1_000,
      'the lease keys deleted on every node',
    );
    const goneAt = c.time.now;
    expect(goneAt - sentAt).toBeGreaterThanOrEqual(ttlMs);
    expect(goneAt - ackedAt).toBeLessThanOrEqual(ttlMs + electionTimeoutMs);
    // Only that lease: the other one and its key stay.
    expect(c.everywhere('other')).toEqual(['v-other', 'v-other', 'v-other']);
    for (const id of ids) expect(c.cluster.nodes.get(id)!.groups.get(0)!.sm.leaseTtl(22)).toBe(null);
    expect(await c.propose({ op: 'leaseKeepalive', lease: 22 })).toEqual({
      ok: false,
      code: 'lease_not_found',
    });
  }, 120_000);

  it('over 24 seeds of random ttls, renewal times and transfer times: never before the ttl, always within ttl + one election timeout', async () => {
    for (let seed = 1; seed <= 24; seed++) {
      const rng = createRng(seed);
      const c = await started();
      const ttlMs = 1_000 + rng.nextInt(2_000);
      // The grant counts as the first renewal; a put under the lease renews nothing.
      let sentAt = c.time.now;
      await c.propose({ op: 'leaseGrant', lease: seed, ttlMs });
      let ackedAt = c.time.now;
      await c.propose(put(`seed/${seed}`, seed));
      // A few renewals at random moments, then the owner goes silent.
      for (let r = rng.nextInt(4); r > 0; r--) {
        await c.advance(rng.nextInt(Math.floor(ttlMs * 0.9)));
        sentAt = c.time.now;
        expect(await c.propose({ op: 'leaseKeepalive', lease: seed })).toMatchObject({ ok: true });
        ackedAt = c.time.now;
      }
      // Five transfers at random moments inside the time to live.
      const at = Array.from({ length: 5 }, () => rng.nextInt(ttlMs - 150)).sort((a, b) => a - b);
      for (const t of at) {
        await c.advance(Math.max(0, ackedAt + t - c.time.now));
        await c.transfer();
      }
      await c.until(
        () => c.everywhere(`seed/${seed}`).every((v) => v === null),
        ttlMs + electionTimeoutMs + 1_000,
        `seed ${seed}: the lease keys deleted`,
      );
      expect(c.time.now - sentAt, `seed ${seed}`).toBeGreaterThanOrEqual(ttlMs);
      expect(c.time.now - ackedAt, `seed ${seed}`).toBeLessThanOrEqual(ttlMs + electionTimeoutMs);
      await c.run(c.cluster.stopAll());
    }
  }, 180_000);

  it('a restarted node that becomes leader counts the lease from a checkpoint, not from its restart alone', async () => {
    const c = await started();
    const ttlMs = 20_000;
    await c.propose({ op: 'leaseGrant', lease: 44, ttlMs });
    await c.propose(put('long/a', 44));
    const grantedAt = c.time.now;
    // Checkpoints (every 5 s) record what the lease has left; then n1, the shard's preferred
    // leader (the others hand leadership back to it), restarts and leads again.
    await c.advance(11_000);
    const restarted = ids[0]!;
    await c.run(c.cluster.nodes.get(restarted)!.shutdown());
    c.cluster.nodes.delete(restarted);
    c.clocks.delete(restarted);
    await c.cluster.start(restarted);
    await c.until(() => c.leader()?.id === restarted, 10_000, 'the restarted node leading again');
    await c.until(
      () => c.everywhere('long/a').every((v) => v === null),
      ttlMs,
      'the lease keys deleted on every node',
    );
    expect(c.leader()?.id).toBe(restarted);
    // Without checkpoints the restarted leader would count a whole ttl from its restart (about
    // 31 s after the grant); with them, it expires within a checkpoint period of the ttl.
    expect(c.time.now - grantedAt).toBeGreaterThanOrEqual(ttlMs);
    expect(c.time.now - grantedAt).toBeLessThan(ttlMs + 5_000 + 1_000);
  }, 180_000);
});
