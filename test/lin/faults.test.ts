/**
 * The CI-sized fault-injection round: each nemesis (kill, pause, partition) for ~20 s against a
 * real 3-node, 3-shard cluster with concurrent clients, kill together with membership (a shard's
 * replica removed and added back while nodes are killed) and with grow-shrink (whole nodes join
 * and leave while nodes are killed); fails on any linearizability violation,
 * any key without a verdict, any acknowledged write missing from the final reads, a watch or a
 * lease problem (lease-checker.ts: the keys of a lease whose holder was SIGSTOPped past its TTL
 * must go, in time and never early; a live lease's keys must stay; reads through every node
 * agree), or a cluster that does not recover after the heal. A failing round keeps its results (report, history,
 * timeline, node logs) under jepsen-results/ci-*; the message says where and how to rerun it.
 * Seeds are fixed (JEPSEN_SEED overrides) so the choices of operations and faults repeat.
 */

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, repoRoot } from '../../harness/index.js';
import type { BrokenVariant } from './broken-node.js';
import type { NemesisKind } from './nemesis.js';
import { netnsSupport } from './netns.js';
import { runRound } from './round.js';

const roundMs = Number(process.env.JEPSEN_CI_MS ?? 20_000);
const net = netnsSupport();

async function ciRound(nemeses: readonly NemesisKind[], defaultSeed: number) {
  const seed = process.env.JEPSEN_SEED === undefined ? defaultSeed : Number(process.env.JEPSEN_SEED);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const nemesis = nemeses.join(',');
  const outDir = join(repoRoot, 'jepsen-results', `ci-${stamp}-${nemeses.join('-')}`);
  const lines: string[] = [];
  const started = Date.now();
  const r = await runRound({
    nemeses,
    timeMs: roundMs,
    clients: 8,
    nodes: 3,
    spares: nemeses.includes('grow-shrink') ? 2 : 0,
    shards: 3,
    keys: 6,
    seed,
    network: nemeses.includes('partition') ? 'netns' : 'loopback',
    holdMs: [2_500, 5_000],
    quietMs: [1_500, 3_000],
    requestTimeoutMs: 1_500,
    // Small, so that snapshots, log compaction and snapshot installs happen under the faults too.
    tuning: { snapshotEntries: 300 },
    clientTimeoutMs: 3_000,
    outDir,
    progressEveryMs: 10_000,
    log: (l) => lines.push(l),
  });
  const failures = [
    ...r.report.verdicts
      .filter((v) => !v.ok || v.unknown)
      .map((v) => `key ${v.key}: ${v.unknown ? 'no verdict' : 'violation'}`),
    ...r.report.lost.map((l) => `key ${l.key}: acknowledged write missing (final ${l.finalRead})`),
    ...r.report.problems,
    ...(r.report.watch?.problems ?? []).map((p) => `watch: ${p}`),
    ...(r.report.leases?.problems ?? []).map((p) => `leases: ${p}`),
  ];
  const okOps = r.history.filter((o) => o.outcome === 'ok').length;
  const context =
    `${r.text}\nprogress:\n${lines.join('\n')}\n\nresults kept in ${outDir}\n` +
    `rerun: JEPSEN_SEED=${seed} npx vitest run test/lin/faults.test.ts, or ` +
    `npm run jepsen -- --nemesis ${nemesis} --time ${roundMs / 1000} --clients 8 --keys 6 --hold 2.5-5 ` +
    `--quiet 1.5-3 --snapshot-entries 300 --seed ${seed}`;
  expect(failures, context).toEqual([]);
  // A round that injected nothing or did nothing proves nothing.
  if (nemeses.some((k) => k !== 'membership')) expect(r.report.faults.length, context).toBeGreaterThan(0);
  const changed = r.report.membership?.counts.ok ?? 0;
  if (nemeses.includes('membership')) expect(changed, context).toBeGreaterThan(0);
  const nodeChanges = r.report.nodeChanges?.filter((c) => c.outcome === 'done').length ?? 0;
  if (nemeses.includes('grow-shrink')) expect(nodeChanges, context).toBeGreaterThan(0);
  expect(okOps, context).toBeGreaterThan(100);
  // The lease checks ran: the paused holder was stopped and its keys seen gone, the live one's read everywhere.
  const leases = r.report.leases;
  expect(leases?.holders.map((h) => h.role).sort(), context).toEqual(['live', 'paused']);
  const paused = leases!.holders.find((h) => h.role === 'paused');
  const live = leases!.holders.find((h) => h.role === 'live');
  expect([paused?.pausedAt != null, paused?.goneBy != null, paused?.lost?.code], context).toEqual([
    true,
    true,
    expect.any(String),
  ]);
  // Stopped before the first fault, it was alive then: the pause, not a fault, ended it.
  expect(paused!.lost!.at, context).toBeGreaterThan(paused!.pausedAt!);
  expect(live?.renewalsOk ?? 0, context).toBeGreaterThan(0);
  // Its TTL outlasts any fault held here and the recovery after it; only grow-shrink (whole nodes
  // killed and removed while faults hold others) may leave a shard without a quorum for longer.
  if (!nemeses.includes('grow-shrink')) expect(live!.lost, context).toBeNull();
  if (live!.lost === null) expect(live!.finally, context).toBe('present');
  rmSync(outDir, { recursive: true, force: true });
  process.stdout.write(
    `fault round ${nemesis} (seed ${seed}): ${r.history.length} operations, ${r.report.faults.length} faults, ` +
      `${r.report.membership == null ? '' : `${changed} membership changes, `}` +
      `${r.report.nodeChanges == null ? '' : `${nodeChanges} node changes, `}` +
      `paused lease's keys gone ${((paused!.goneBy! - paused!.pausedAt!) / 1000).toFixed(1)} s after its SIGSTOP ` +
      `(bound ${((paused!.bound! - paused!.pausedAt!) / 1000).toFixed(1)} s), ` +
      `${live!.lost === null ? 'live lease kept' : 'live lease lost in its time'} (${live!.renewalsOk} renewals), ` +
      `valid, ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
  );
}

describe('fault injection against a real 3-node, 3-shard cluster', () => {
  beforeAll(async () => {
    await ensureBuilt();
    if (!net.ok) process.stderr.write(`faults.test: skipping the partition round: ${net.reason}\n`);
  }, 240_000);

  it('kill (SIGKILL and restart leaders, random nodes, majorities) and membership (a replica out and back in): linearizable, nothing lost', async () => {
    await ciRound(['kill', 'membership'], 101);
  }, 180_000);

  it('kill and grow-shrink (nodes join, are drained, are killed and removed by force): linearizable, nothing lost', async () => {
    await ciRound(['kill', 'grow-shrink'], 105);
  }, 240_000);

  it('pause (SIGSTOP/SIGCONT leaders, random nodes, majorities): linearizable, nothing lost', async () => {
    await ciRound(['pause'], 102);
  }, 180_000);

  it.skipIf(!net.ok)(
    `partition (isolated node, isolated leader, majority/minority, bridge)${net.ok ? '' : ` — skipped: ${net.reason}`}: linearizable, nothing lost`,
    async () => {
      await ciRound(['partition'], 103);
    },
    180_000,
  );

  it.skipIf(!net.ok)(
    'catches a deliberate fault: reads sent with ?consistency=stale to an isolated node are reported',
    async () => {
      const outDir = join(
        repoRoot,
        'jepsen-results',
        `ci-${new Date().toISOString().replace(/[:.]/g, '-')}-stale`,
      );
      const r = await runRound({
        nemeses: ['partition'],
        variants: ['isolate-node'],
        reads: 'stale',
        timeMs: 10_000,
        clients: 8,
        nodes: 3,
        shards: 3,
        keys: 3,
        seed: 104,
        network: 'netns',
        holdMs: [5_000, 6_000],
        quietMs: [1_000, 1_500],
        requestTimeoutMs: 1_500,
        clientTimeoutMs: 3_000,
        outDir,
        progressEveryMs: 10_000,
        log: () => {},
        leases: false,
      });
      const violations = r.report.verdicts.filter((v) => !v.ok && !v.unknown);
      expect(violations.length, r.text).toBeGreaterThan(0);
      expect(violations[0]!.explanation, r.text).toMatch(/^cannot linearize #\d+ c\d+ \[/);
      expect(r.report.valid).toBe(false);
      rmSync(outDir, { recursive: true, force: true });
    },
    120_000,
  );

  /** A short round against deliberately broken nodes: the suite must report it invalid. */
  async function brokenRound(
    broken: BrokenVariant,
    nemesis: NemesisKind,
    variants: string[],
    seed: number,
    shape: {
      timeMs: number;
      clients: number;
      keys: number;
      holdMs: [number, number];
      quietMs: [number, number];
      clientTimeoutMs: number;
      leases?: boolean;
      settleMs?: number;
    },
  ) {
    const outDir = join(
      repoRoot,
      'jepsen-results',
      `ci-${new Date().toISOString().replace(/[:.]/g, '-')}-${broken}`,
    );
    const r = await runRound({
      nemeses: [nemesis],
      variants,
      broken,
      ...shape,
      nodes: 3,
      shards: 3,
      seed,
      network: nemesis === 'partition' ? 'netns' : 'loopback',
      requestTimeoutMs: 1_500,
      leases: shape.leases ?? false,
      outDir,
      progressEveryMs: 10_000,
      log: () => {},
    });
    const violations = r.report.verdicts.filter((v) => !v.ok && !v.unknown);
    const watchProblems = r.report.watch?.problems ?? [];
    const leaseProblems = r.report.leases?.problems ?? [];
    const caught =
      violations.length + r.report.lost.length + watchProblems.length + leaseProblems.length > 0 &&
      !r.report.valid;
    process.stdout.write(
      `broken node ${broken} (seed ${seed}): ${caught ? 'caught' : 'not seen in this round'} ` +
        `(${violations.length} keys not linearizable, ${r.report.lost.length} acknowledged writes lost, ` +
        `${watchProblems.length} watch problems${shape.leases === true ? `, ${leaseProblems.length} lease problems` : ''})\n` +
        (violations[0]?.explanation ?? watchProblems[0] ?? leaseProblems[0] ?? '') +
        '\n',
    );
    rmSync(outDir, { recursive: true, force: true });
    return caught;
  }

  it('catches a broken node that serves linearizable reads from its own replica, without ReadIndex', async () => {
    const caught = await brokenRound('local-reads', 'pause', ['leader'], 105, {
      timeMs: 15_000,
      clients: 16,
      keys: 6,
      holdMs: [2_000, 3_000],
      quietMs: [500, 1_000],
      clientTimeoutMs: 3_000,
    });
    expect(caught).toBe(true);
  }, 120_000);

  it('catches a broken node that acknowledges writes before they are committed', async () => {
    const caught = await brokenRound('early-ack', 'kill', ['leader'], 106, {
      timeMs: 12_000,
      clients: 8,
      keys: 3,
      holdMs: [3_000, 5_000],
      quietMs: [1_000, 1_500],
      clientTimeoutMs: 3_000,
    });
    expect(caught).toBe(true);
  }, 120_000);

  it('catches a broken node whose lease timers count a quarter of the TTL: a live lease expires, its keys go early', async () => {
    const caught = await brokenRound('lease-early', 'pause', ['random'], 108, {
      timeMs: 5_000,
      settleMs: 1_000,
      clients: 4,
      keys: 3,
      holdMs: [1_000, 2_000],
      quietMs: [1_000, 1_500],
      clientTimeoutMs: 3_000,
      leases: true,
    });
    expect(caught).toBe(true);
  }, 120_000);

  it('catches a broken node that announces watch events when a write is proposed, not when it is applied', async () => {
    const caught = await brokenRound('watch-at-propose', 'kill', ['leader'], 107, {
      timeMs: 10_000,
      clients: 8,
      keys: 6,
      holdMs: [2_000, 3_000],
      quietMs: [1_000, 1_500],
      clientTimeoutMs: 3_000,
    });
    expect(caught).toBe(true);
  }, 120_000);
});
