/**
 * What a fault-injection round found, from its history and its faults: operations by kind and
 * outcome, the checker's verdict per key, acknowledged writes missing from the final reads, and
 * for each fault how long until writes succeeded again on every shard (from the fault's start,
 * and from its heal). `formatReport` renders it for people.
 */

import type { Tuning } from '../../harness/index.js';
import type { KeyVerdict } from './checker.js';
import { growShrinkVariants, type NodeChange } from './grow-shrink.js';
import { describeOp, type Operation } from './history.js';
import { formatLeases, type LeaseVerdict } from './lease-checker.js';
import { describeConf, type MembershipRecord } from './membership-plan.js';
import type { Fault } from './nemesis.js';
import type { WatchVerdict } from './watch-checker.js';

export interface KindCounts {
  ok: number;
  fail: number;
  info: number;
  /** ok operations by what they observed: value, absent, written, deleted, preconditionFailed. */
  observed: Record<string, number>;
}

export function countOperations(history: readonly Operation[]): Record<string, KindCounts> {
  const out: Record<string, KindCounts> = {};
  for (const f of ['read', 'write', 'cas', 'delete']) out[f] = { ok: 0, fail: 0, info: 0, observed: {} };
  for (const o of history) {
    const c = out[o.op.f]!;
    c[o.outcome]++;
    if (o.outcome === 'ok' && o.output !== null)
      c.observed[o.output.kind] = (c.observed[o.output.kind] ?? 0) + 1;
  }
  return out;
}

/** An ok operation that changed the key (a 412 or a delete of an absent key changed nothing). */
const changed = (o: Operation) =>
  o.outcome === 'ok' &&
  o.op.f !== 'read' &&
  o.output !== null &&
  (o.output.kind === 'written' || o.output.kind === 'deleted');

export interface LostWrite {
  readonly key: string;
  readonly finalRead: string;
  /** The acknowledged writes one of which the final read should have shown. */
  readonly expected: readonly string[];
}

/**
 * The final reads (ok reads by `finalClient`) against the acknowledged writes: each final read must
 * show the effect of one of the key's last acknowledged writes (those no other acknowledged write
 * began after), or of an indeterminate write (which may have taken effect late). The checker
 * decides the same and more; this says it plainly.
 */
export function findLostWrites(history: readonly Operation[], finalClient: number): LostWrite[] {
  const lost: LostWrite[] = [];
  const finals = history.filter((o) => o.client === finalClient && o.outcome === 'ok' && o.op.f === 'read');
  for (const f of finals) {
    const ops = history.filter((o) => o.key === f.key);
    const acked = ops.filter((o) => changed(o) && o.ret < f.call);
    const last = acked.filter((m) => !acked.some((m2) => m2.call > m.ret));
    const shows = (o: Operation) => {
      const out = f.output;
      if (out === null) return false;
      if (o.op.f === 'delete') return out.kind === 'absent';
      return out.kind === 'value' && (o.op.f === 'write' || o.op.f === 'cas') && out.value === o.op.value;
    };
    if (last.some(shows)) continue;
    if (ops.some((o) => o.outcome === 'info' && o.op.f !== 'read' && shows(o))) continue;
    if (acked.length === 0 && f.output?.kind === 'absent') continue;
    lost.push({ key: f.key, finalRead: describeOp(f), expected: last.map(describeOp) });
  }
  return lost;
}

export interface Recovery {
  /** From the fault's start until a write invoked after it succeeded, on the slowest shard; null: never. */
  readonly writesBackMs: number | null;
  readonly perShardMs: readonly (number | null)[];
  /** The same, counted from the heal. */
  readonly afterHealMs: number | null;
}

/** Time until writes (any changing or conditional write, answered ok) succeed again on every shard. */
export function recoveryOf(
  fault: Fault,
  history: readonly Operation[],
  shardOf: (key: string) => number,
  shards: number,
): Recovery {
  const firstOk = (from: number) => {
    const per: (number | null)[] = Array.from({ length: shards }, () => null);
    for (const o of history) {
      if (o.op.f === 'read' || o.outcome !== 'ok' || o.call < from) continue;
      const s = shardOf(o.key);
      const dt = o.ret - from;
      if (per[s] === null || dt < per[s]!) per[s] = dt;
    }
    return per;
  };
  const worst = (per: (number | null)[]) =>
    per.some((x) => x === null) ? null : Math.max(...(per as number[]));
  const perShardMs = firstOk(fault.start);
  return {
    writesBackMs: worst(perShardMs),
    perShardMs,
    afterHealMs: fault.healed === null ? null : worst(firstOk(fault.healed)),
  };
}

export interface RoundMeta {
  readonly seed: number;
  readonly startedAt: string;
  /** Wall-clock time (epoch ms) of history time 0, to read node logs (pino `time`) against the history. */
  readonly t0Epoch: number;
  readonly timeMs: number;
  readonly nodes: number;
  readonly shards: number;
  readonly clients: number;
  readonly keys: readonly string[];
  readonly nemeses: readonly string[];
  readonly network: 'netns' | 'loopback';
  readonly requestTimeoutMs: number;
  readonly clientTimeoutMs: number;
  /** Cluster file tuning beyond requestTimeoutMs. */
  readonly tuning: Tuning;
  /** How the workload's reads were sent (`stale` is a deliberate fault). */
  readonly reads: 'linearizable' | 'stale';
}

export interface Report {
  readonly meta: RoundMeta;
  readonly counts: Record<string, KindCounts>;
  readonly verdicts: readonly (KeyVerdict & { shard: number })[];
  readonly lost: readonly LostWrite[];
  /** Per violating key: the node log lines around the operation that could not be placed. */
  readonly nodeLogs: Readonly<Record<string, readonly string[]>>;
  readonly faults: readonly (Fault & Recovery)[];
  /** What the membership nemesis did, change by change; null when it did not run. */
  readonly membership?: MembershipRecord | null;
  /** The nodes the grow-shrink nemesis added and removed, change by change; null when it did not run. */
  readonly nodeChanges?: readonly NodeChange[] | null;
  /** Liveness and harness problems: no leader after the heal, a final read that never succeeded... */
  readonly problems: readonly string[];
  /** What the watchers saw, judged (watch-checker.ts); absent in rounds from before watch. */
  readonly watch?: WatchVerdict;
  /** The lease holders' keys, judged (lease-checker.ts); absent when the round ran none. */
  readonly leases?: LeaseVerdict;
  readonly checkMs: number;
  /** Linearizable on every key, decided (no `unknown`), nothing lost, no problem. */
  readonly valid: boolean;
}

const secs = (ms: number | null) => (ms === null ? 'never' : `${(ms / 1000).toFixed(2)} s`);

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '),
  );
}

export function formatReport(r: Report): string {
  const m = r.meta;
  const lines: string[] = [];
  lines.push(
    `raftkv fault-injection round: ${r.valid ? 'VALID' : 'INVALID'}`,
    `  seed ${m.seed}, started ${m.startedAt}, ${secs(m.timeMs)} of faults (${m.nemeses.join(', ')}), ` +
      `${m.nodes} nodes, ${m.shards} shards, ${m.clients} clients, ${m.keys.length} keys, network ${m.network}`,
    `  requestTimeoutMs ${m.requestTimeoutMs}${Object.entries(m.tuning)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `, ${k} ${v}`)
      .join('')}, client timeout ${m.clientTimeoutMs} ms; checked in ${secs(r.checkMs)}`,
    ...(m.reads === 'stale'
      ? ['  the workload read with ?consistency=stale: a deliberate fault, violations are expected']
      : []),
    `  history times are ms since ${new Date(m.t0Epoch).toISOString()} (epoch ms ${m.t0Epoch} in the node logs)`,
    '',
    'operations (ok / fail: known not applied / info: indeterminate):',
  );
  const rows = [['kind', 'ok', 'fail', 'info', 'observed']];
  let total = { ok: 0, fail: 0, info: 0 };
  for (const [f, c] of Object.entries(r.counts)) {
    const observed = Object.entries(c.observed)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    rows.push([f, String(c.ok), String(c.fail), String(c.info), observed]);
    total = { ok: total.ok + c.ok, fail: total.fail + c.fail, info: total.info + c.info };
  }
  rows.push(['all', String(total.ok), String(total.fail), String(total.info), '']);
  lines.push(...table(rows).map((l) => `  ${l}`), '', 'verdict per key:');
  const vrows = [['key', 'shard', 'ops', 'verdict']];
  for (const v of r.verdicts)
    vrows.push([
      v.key,
      String(v.shard),
      String(v.operations),
      v.unknown ? 'UNKNOWN' : v.ok ? 'linearizable' : 'VIOLATION',
    ]);
  lines.push(...table(vrows).map((l) => `  ${l}`));
  for (const v of r.verdicts) {
    if (v.explanation !== null) lines.push('', `key ${v.key}: ${v.explanation}`);
    const logs = r.nodeLogs[v.key];
    if (logs !== undefined && logs.length > 0)
      lines.push(`  node logs from 3 s before to 1 s after it (UTC):`, ...logs.map((l) => `    ${l}`));
    if (v.unknown) lines.push('', `key ${v.key}: the checker gave up (search budget exhausted): no verdict`);
  }
  lines.push('', `acknowledged writes missing at the end: ${r.lost.length}`);
  for (const l of r.lost) {
    lines.push(`  key ${l.key}: final ${l.finalRead}`);
    for (const e of l.expected) lines.push(`    expected the effect of ${e}`);
  }
  lines.push(
    '',
    'faults (time until a write invoked after the fault began / after its heal completed succeeded, on every shard):',
  );
  const frows = [['#', 'start', 'held', 'writes back', 'after heal', 'fault']];
  for (const f of r.faults) {
    frows.push([
      String(f.id),
      `${(f.start / 1000).toFixed(1)} s`,
      f.healBegan === null ? '-' : secs(f.healBegan - f.start),
      secs(f.writesBackMs),
      secs(f.afterHealMs),
      f.description,
    ]);
  }
  lines.push(...table(frows).map((l) => `  ${l}`));
  const byKind = new Map<string, number | null>();
  for (const f of r.faults) {
    const prev = byKind.get(f.kind);
    const worst =
      prev === undefined
        ? f.writesBackMs
        : prev === null || f.writesBackMs === null
          ? null
          : Math.max(prev, f.writesBackMs);
    byKind.set(f.kind, worst);
  }
  if (byKind.size > 0)
    lines.push(`  worst per kind: ${[...byKind].map(([k, ms]) => `${k} ${secs(ms)}`).join(', ')}`);
  if (r.membership != null) lines.push('', ...formatMembership(r.membership));
  if (r.nodeChanges != null) lines.push('', ...formatNodeChanges(r.nodeChanges));
  if (r.watch !== undefined) {
    const w = r.watch;
    lines.push(
      '',
      `watch: ${w.watchers} watchers, ${w.events} events in ${w.segments} segments, ${w.compactions} 410s: ` +
        (w.problems.length === 0
          ? 'every event committed, in order, once, no gap'
          : `${w.problems.length} problems`),
      ...w.problems.map((p) => `  ${p}`),
    );
  }
  if (r.leases !== undefined) lines.push('', ...formatLeases(r.leases));
  if (r.problems.length > 0) lines.push('', 'problems:', ...r.problems.map((p) => `  ${p}`));
  return `${lines.join('\n')}\n`;
}

/** The grow-shrink nemesis's counts and every node change with its times and outcome. */
export function formatNodeChanges(changes: readonly NodeChange[]): string[] {
  const count = (variant: NodeChange['variant'], outcome: NodeChange['outcome']) =>
    changes.filter((c) => c.variant === variant && c.outcome === outcome).length;
  const lines = [
    `grow-shrink: ${changes.length} node changes; ` +
      growShrinkVariants
        .map(
          (v) =>
            `${v} ${count(v, 'done')} done, ${count(v, 'refused')} refused, ${count(v, 'failed')} failed`,
        )
        .join('; '),
  ];
  const t = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);
  const rows = [['#', 'change', 'asked', 'over', 'took', 'outcome', 'members after']];
  for (const c of changes)
    rows.push([
      `N${c.id}`,
      `${c.variant} ${c.node}`,
      t(c.start),
      t(c.end),
      c.end === null ? '-' : t(c.end - c.start),
      c.outcome ?? 'under way',
      c.members.join(','),
    ]);
  const details = ['detail', ...changes.map((c) => c.detail)];
  if (changes.length > 0) lines.push(...table(rows).map((l, i) => `  ${l}  ${details[i]}`));
  return lines;
}

/** The membership nemesis's counts, its moves, and every change it asked for with the answer. */
export function formatMembership(m: MembershipRecord): string[] {
  const c = m.counts;
  const lines = [
    `membership: ${c.moves} moves (${c.movesCompleted} there and back, ${c.movesAbandoned} given up, ` +
      `${c.movesCutShort} cut short by the end); ` +
      `${c.changes} changes asked: ${c.ok} done (200), refused ${c.conflict + c.refused + c.unavailable} ` +
      `(409 ${c.conflict}, 400 ${c.refused}, 503 ${c.unavailable}), not sent ${c.notSent}, ` +
      `outcome unknown ${c.unknown} (${c.unknownApplied} of them applied), other ${c.unexpected}`,
    `  original voters: ${m.original.map((v, s) => `shard ${s} ${v.join(',')}`).join('; ')}`,
  ];
  if (c.refusedYetChanged > 0)
    lines.push(
      `  ${c.refusedYetChanged} refused changes (409/400/503) were followed by a configuration that shows them (in part)`,
    );
  const t = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  for (const mv of m.moves) {
    const what =
      mv.variant === 'other-node'
        ? `shard ${mv.shard} ${mv.from} -> ${mv.to} and back`
        : `shard ${mv.shard} ${mv.from} out and back in`;
    const how =
      `there at ${mv.there === null ? '-' : t(mv.there)}, back at ${mv.back === null ? '-' : t(mv.back)}` +
      `${mv.abandoned === null ? '' : `; given up: ${mv.abandoned}`}${mv.cutShort ? '; cut short by the end of the run' : ''}`;
    lines.push(`  M${mv.id} ${t(mv.start)} ${what}: ${how}`);
  }
  const rows = [['#', 'move', 'asked', 'answered', 'change', 'via', 'outcome']];
  const after = ['configuration after; detail'];
  for (const ch of m.changes) {
    rows.push([
      String(ch.id),
      ch.move === null ? ch.phase : `M${ch.move}`,
      t(ch.start),
      t(ch.end),
      `shard ${ch.shard} ${ch.type} ${ch.node}`,
      ch.via ?? '-',
      `${ch.outcome}${ch.status === null ? '' : ` ${ch.status}`}`,
    ]);
    const conf = ch.after === null ? 'unknown' : describeConf(ch.after);
    const effect = ch.effect === null || ch.outcome === 'ok' ? '' : ` (effect: ${ch.effect})`;
    after.push(`${conf}${ch.outcome === 'ok' ? '' : `; ${ch.detail}`}${effect}`);
  }
  if (m.changes.length > 0) lines.push('  changes:', ...table(rows).map((l, i) => `    ${l}  ${after[i]}`));
  return lines;
}
