/**
 * The lease checker on made-up rounds: what a correct cluster shows passes; a key of a live lease
 * deleted, a paused lease expired before its time or never, a bound that faults extend, final
 * reads that disagree, a revoked lease renewed, a revocation half-announced to a watcher, a live
 * lease lost, and a holder that never got going are each reported.
 */

import { describe, expect, it } from 'vitest';
import type { Operation, Output } from './history.js';
import {
  checkLeases,
  type Disruption,
  expiryBound,
  type HolderRecord,
  type LeaseRecord,
} from './lease-checker.js';
import type { WatchRecord } from './watchers.js';

const shardOf = (key: string) => (key.startsWith('lease/paused/') ? 0 : 1);
const nodes = ['n1', 'n2', 'n3'];
const finalClient = 1;

let id = 0;
const read = (
  key: string,
  call: number,
  ret: number,
  output: Output,
  node = 'n1',
  client = 0,
): Operation => ({
  id: id++,
  client,
  key,
  op: { f: 'read' },
  call,
  ret,
  outcome: 'ok',
  output,
  node,
});
const absent: Output = { kind: 'absent' };
const value = (v: string, version: string): Output => ({ kind: 'value', value: v, version });

const ev = (
  watcher: number,
  type: 'put' | 'delete',
  key: string,
  index: number,
  at: number,
  value: string | null = null,
  segment = 0,
): WatchRecord => ({ watcher, segment, type, key, value, shard: shardOf(key), index, at });

function holder(role: 'live' | 'paused'): HolderRecord {
  const keys = [`lease/${role}/0`, `lease/${role}/1`];
  const base = role === 'paused' ? 10 : 20;
  return {
    name: role,
    role,
    ttlMs: role === 'paused' ? 3_000 : 20_000,
    keys,
    pid: 100,
    lease: role === 'paused' ? '00000000000a' : '00000000000b',
    granted: { call: -1_000, ret: -990 },
    puts: keys.map((key, i) => ({
      key,
      value: `${role}-${key}`,
      version: String(base + i),
      call: -980 + i * 10,
      ret: -975 + i * 10,
    })),
    ready: -950,
    renewals:
      role === 'paused'
        ? [
            { sentAt: 0, at: 5, ok: true },
            { sentAt: 1_000, at: 1_005, ok: true },
          ]
        : [
            { sentAt: 5_000, at: 5_005, ok: true },
            { sentAt: 11_000, at: 11_005, ok: true },
          ],
    lost:
      role === 'paused' ? { at: 6_400, code: 'not_found', message: 'lease 00000000000a not found' } : null,
    pausedAt: role === 'paused' ? 1_500 : null,
    resumedAt: role === 'paused' ? 6_400 : null,
    errors: [],
  };
}

/**
 * A correct round: the paused lease (ttl 3 s, last renewal sent at 1 s) may expire from 4 s, must
 * be gone by 1.5 + 3 + 0.8 + 3.5 = 8.8 s, and is (4.4 s); the live one keeps its keys.
 */
function correct(): LeaseRecord {
  const live = holder('live');
  const paused = holder('paused');
  const watch: WatchRecord[] = [];
  for (const w of [0, 1]) {
    for (const h of [paused, live])
      for (const p of h.puts) watch.push(ev(w, 'put', p.key, Number(p.version), p.ret + 5, p.value));
    // One entry deletes both of the shard's keys of the lease.
    watch.push(ev(w, 'delete', 'lease/paused/0', 30, 4_400), ev(w, 'delete', 'lease/paused/1', 30, 4_400));
  }
  const reads: Operation[] = [
    read('lease/paused/0', 2_000, 2_010, value('paused-lease/paused/0', '10')),
    read('lease/live/0', 2_020, 2_030, value('live-lease/live/0', '20')),
    read('lease/paused/0', 4_450, 4_460, absent, 'n2'),
    read('lease/paused/1', 4_470, 4_480, absent, 'n3'),
  ];
  for (const h of [live, paused])
    for (const p of h.puts)
      for (const n of nodes)
        reads.push(
          read(p.key, 10_000, 10_010, h.role === 'live' ? value(p.value, p.version) : absent, n, finalClient),
        );
  return {
    holders: [live, paused],
    reads,
    finalClient,
    nodes,
    watch,
    compactions: [],
    watchers: 2,
    watchErrors: [],
    disruptions: [],
    electionMaxMs: 800,
    slackMs: 3_500,
    pauseMarginMs: 1_000,
    holdMaxMs: 5_000,
  };
}

const problemsOf = (r: LeaseRecord) => checkLeases(r, shardOf).problems;
const someStart = (ps: readonly string[], prefix: string) => ps.some((p) => p.startsWith(prefix));

describe('the lease checker', () => {
  it('passes what a correct cluster shows', () => {
    const v = checkLeases(correct(), shardOf);
    expect(v.problems).toEqual([]);
    const paused = v.holders.find((h) => h.role === 'paused')!;
    expect([paused.mayExpireFrom, paused.goneBy, paused.bound]).toEqual([4_000, 4_400, 8_800]);
    expect(v.holders.map((h) => h.finally)).toEqual(['present', '404']);
    expect(v.verdicts.every((x) => x.ok)).toBe(true);
  });

  it('reports a key of a live lease that a watcher saw deleted and the final reads miss', () => {
    const r = correct();
    const watch = [...r.watch, ev(0, 'delete', 'lease/live/1', 40, 7_000)];
    const reads = r.reads.map((o) =>
      o.key === 'lease/live/1' && o.client === finalClient ? { ...o, output: absent } : o,
    );
    const ps = problemsOf({ ...r, watch, reads });
    expect(ps).toContain(
      'live lease: live: watcher 0 heard the delete of lease/live/1 (shard 1 index 40) at 7.00 s, yet the lease was never lost',
    );
    expect(someStart(ps, 'live lease: live: GET lease/live/1 via n1 [10.00 s, 10.01 s] answered 404')).toBe(
      true,
    );
    expect(ps).toContain('agreement: live: lease/live/1 finally reads 404, expected live-lease/live/1@21');
    expect(someStart(ps, 'linearizable: lease/live/1: cannot linearize')).toBe(true);
  });

  it('reports a paused lease whose keys went before ttl after its last renewal', () => {
    const r = correct();
    const reads = [...r.reads, read('lease/paused/1', 3_500, 3_600, absent, 'n1')];
    const ps = problemsOf({ ...r, reads });
    expect(ps).toContain(
      'early: paused: GET lease/paused/1 via n1 [3.50 s, 3.60 s] answered 404 before the lease could expire (last renewal sent at 1.00 s + ttl 3.00 s = 4.00 s)',
    );
    expect(someStart(ps, 'linearizable: lease/paused/1: cannot linearize')).toBe(true);
    const watch = r.watch.map((w) => (w.type === 'delete' ? { ...w, at: 3_000 } : w));
    expect(
      someStart(problemsOf({ ...r, watch }), 'early: paused: watcher 0 heard the delete of lease/paused/0'),
    ).toBe(true);
  });

  it('reports a paused lease whose keys stay, or go after the bound, unless a fault held them', () => {
    const r = correct();
    const stays = {
      ...r,
      watch: r.watch.filter((w) => w.type !== 'delete'),
      reads: r.reads.map((o) =>
        o.key.startsWith('lease/paused/')
          ? { ...o, output: value(`paused-${o.key}`, o.key.endsWith('0') ? '10' : '11') }
          : o,
      ),
    };
    const ps = problemsOf(stays);
    expect(ps).toContain('paused lease: paused: lease/paused/0 was never seen gone (bound 8.80 s)');
    expect(ps).toContain(
      'agreement: paused: lease/paused/1 finally reads paused-lease/paused/1@11, expected 404',
    );

    const late = {
      ...r,
      watch: r.watch.map((w) => (w.type === 'delete' ? { ...w, at: 9_500 } : w)),
      reads: r.reads.map((o) => (o.ret > 4_000 && o.ret < 5_000 ? { ...o, call: 9_400, ret: 9_450 } : o)),
    };
    expect(problemsOf(late)).toContain(
      'paused lease: paused: lease/paused/0 was first seen gone only at 9.45 s (GET via n2 answered 404 at 9.45 s), after 8.80 s',
    );
    // A majority killed from 2 s to 4 s: restarted replicas count the lease from 4 s on.
    const fault: Disruption = { start: 2_000, end: 4_000, what: 'fault #1 kill n1,n2 (majority)' };
    const v = checkLeases({ ...late, disruptions: [fault] }, shardOf);
    expect(v.problems).toEqual([]);
    expect(v.holders.find((h) => h.role === 'paused')!.bound).toBe(11_300);
  });

  it('reports final reads that disagree, or a node that never answered', () => {
    const r = correct();
    let flipped = false;
    const reads = r.reads
      .map((o) => {
        if (!flipped && o.client === finalClient && o.key === 'lease/paused/0' && o.node === 'n3') {
          flipped = true;
          return { ...o, output: value('paused-lease/paused/0', '10') };
        }
        return o;
      })
      .filter((o) => !(o.client === finalClient && o.key === 'lease/live/0' && o.node === 'n2'));
    const ps = problemsOf({ ...r, reads });
    expect(ps).toContain(
      'agreement: lease/paused/0: the final reads disagree: n1 404, n2 404, n3 paused-lease/paused/0@10',
    );
    expect(ps).toContain('agreement: lease/live/0: no final read through n2 succeeded');
  });

  it('reports a revoked lease that was renewed, and a holder that never said it was lost', () => {
    const r = correct();
    const paused = {
      ...r.holders[1]!,
      renewals: [...r.holders[1]!.renewals, { sentAt: 6_350, at: 6_390, ok: true }],
      lost: null,
    };
    const ps = problemsOf({ ...r, holders: [r.holders[0]!, paused] });
    expect(ps).toContain(
      'paused lease: paused: a renewal sent at 6.35 s succeeded after its keys were gone (4.40 s): a revoked lease was renewed',
    );
    expect(ps).toContain(
      'paused lease: paused: once resumed at 6.40 s, the holder never reported its lease lost',
    );
  });

  it('reports a revocation announced in part to one watcher, and a watcher that skipped it', () => {
    const r = correct();
    const part = r.watch.filter(
      (w) => !(w.watcher === 1 && w.key === 'lease/paused/1' && w.type === 'delete'),
    );
    expect(problemsOf({ ...r, watch: part })).toEqual([
      'watch agreement: shard/index 0/30: watcher 0 saw delete lease/paused/0, delete lease/paused/1; watcher 1 saw delete lease/paused/0',
    ]);
    // Watcher 1 saw shard 0 before and after index 30 in one segment, but not 30 itself.
    const skipped = [
      ...r.watch.filter((w) => !(w.watcher === 1 && w.index === 30)),
      ev(1, 'put', 'lease/paused/0', 31, 5_000, 'paused-lease/paused/0'),
    ];
    const ps = problemsOf({ ...r, watch: skipped });
    expect(ps).toContain('watch gap: watcher/segment 1/0 saw shard 0 from 10 to 31 but not index 30');
    expect(
      someStart(
        ps,
        'watch: watcher 1 put lease/paused/0=paused-lease/paused/0 at shard 0 index 31: the holder put',
      ),
    ).toBe(true);
  });

  it('notes a live lease lost in its time, lets its keys go then, and reports one given up early', () => {
    const r = correct();
    const timedOut = {
      ...r.holders[0]!,
      lost: { at: 31_000, code: 'timeout', message: 'not renewed for 20000 ms' },
    };
    // Its key went at 31.5 s, after its last renewal (11 s) + ttl (20 s): allowed, the lease was lost.
    const finalAt = (at: number) =>
      r.reads.map((o) =>
        o.key === 'lease/live/0' && o.client === finalClient
          ? { ...o, call: at, ret: at + 10, output: absent }
          : o,
      );
    const v = checkLeases({ ...r, reads: finalAt(31_500), holders: [timedOut, r.holders[1]!] }, shardOf);
    expect(v.problems).toEqual([]);
    expect(v.notes).toEqual([
      'live: the live lease was lost at 31.00 s (timeout: not renewed for 20000 ms), not before its time (31.00 s): no renewal succeeded for its ttl 20.00 s, longer than any fault the nemesis holds (5.00 s); its keys were allowed to go from then on',
    ]);
    // Gone before its time, although the holder said later that it was lost.
    const ps = problemsOf({ ...r, reads: finalAt(20_000), holders: [timedOut, r.holders[1]!] });
    expect(someStart(ps, 'early: live: GET lease/live/0 via n1 [20.00 s, 20.01 s] answered 404 before')).toBe(
      true,
    );
    const early = {
      ...r.holders[0]!,
      lost: { at: 12_000, code: 'not_found', message: 'lease 00000000000b not found' },
    };
    expect(
      someStart(
        problemsOf({ ...r, holders: [early, r.holders[1]!] }),
        'early: live: a node said the lease was gone',
      ),
    ).toBe(true);
  });

  it('notes a paused lease that no quorum renewed, lost before its pause', () => {
    const r = correct();
    // Its last renewal was sent at 1 s; a fault kept it from renewing and it went at 4.4 s, before the SIGSTOP at 5 s.
    const paused = {
      ...r.holders[1]!,
      lost: { at: 4_500, code: 'not_found', message: 'lease 00000000000a not found' },
      pausedAt: 5_000,
      resumedAt: 9_900,
    };
    const v = checkLeases({ ...r, holders: [r.holders[0]!, paused] }, shardOf);
    expect(v.problems).toEqual([]);
    expect(v.notes).toEqual([
      'paused: its lease was lost at 4.50 s, before its SIGSTOP (5.00 s), not before its time (4.00 s): no quorum renewed it; the pause tested nothing more',
    ]);
  });

  it('reports a holder that was never ready, and judges nothing else of it', () => {
    const r = correct();
    const broken = {
      ...r.holders[0]!,
      ready: null,
      puts: r.holders[0]!.puts.slice(0, 1),
      errors: ['put lease/live/1: unavailable: no leader'],
    };
    const ps = problemsOf({ ...r, holders: [broken, r.holders[1]!] });
    expect(ps).toEqual([
      'holder: live: put lease/live/1: unavailable: no leader',
      'holder: live: 1 of its 2 puts were acknowledged',
    ]);
  });
});

describe('the expiry bound', () => {
  const d = (start: number, end: number): Disruption => ({ start, end, what: `${start}-${end}` });
  it('is ttl + election + slack after the pause, pushed by each disruption that overlaps it, in a chain', () => {
    expect(expiryBound(1_000, 3_000, 800, 3_500, []).bound).toBe(8_300);
    // Ended long before: ignored. Overlapping: its end + the same. One that starts within the new bound: chained.
    const chain = expiryBound(1_000, 3_000, 800, 3_500, [
      d(-9_000, -5_000),
      d(2_000, 6_000),
      d(12_000, 14_000),
    ]);
    expect([chain.bound, chain.extendedBy.map((x) => x.what)]).toEqual([
      21_300,
      ['2000-6000', '12000-14000'],
    ]);
    // Ended just before the pause (a replica may still catch up): counts.
    expect(expiryBound(1_000, 3_000, 800, 3_500, [d(-2_000, -1_000)]).bound).toBe(8_300);
    expect(expiryBound(1_000, 3_000, 800, 3_500, [d(-2_000, -1_000)]).extendedBy).toEqual([]);
    // Disruptions that began after the keys were gone delay nothing.
    expect(expiryBound(1_000, 3_000, 800, 3_500, [d(2_000, 6_000), d(12_000, 14_000)], 9_000).bound).toBe(
      13_300,
    );
  });
});
