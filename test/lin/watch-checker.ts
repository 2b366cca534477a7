/**
 * Judges what the round's watchers saw (watchers.ts) against the client history. A watch is right
 * when, for every watcher and key, its events are the key's committed writes, in commit order,
 * once each, with nothing missing between the first and the last event it saw of that shard:
 *
 * 1. order, once: per watcher and shard, event indexes strictly increase (across reconnects and
 *    segments: nothing repeated after a resume, nothing reordered);
 * 2. agreement: every watcher that saw an index of a shard saw the same change there (a replica
 *    serves the committed log, whichever node it is);
 * 3. taken effect: each event is a write some client made that may have taken effect: a put's
 *    value was written by an `ok` or `info` write or cas (an `ok` one with that very version), a
 *    delete was asked for by an `ok` or `info` delete; never a write that failed, or a cas whose
 *    condition did not hold;
 * 4. no gap: every acknowledged put (its version is its log index) of a watched key whose index
 *    lies between the first and the last index a watcher saw of its shard, in one segment, was
 *    seen by that watcher in that segment;
 * 5. honest 410s: each `compacted` refusal names a cursor index below the floor it names, and at
 *    or after the last index that watcher had seen of that shard.
 */

import type { Operation } from './history.js';
import type { Compaction, WatchRecord } from './watchers.js';

export interface WatchVerdict {
  readonly watchers: number;
  readonly events: number;
  readonly segments: number;
  readonly compactions: number;
  /** Everything wrong, one line each (at most 20 per rule). */
  readonly problems: readonly string[];
}

const perRuleMax = 20;

export function checkWatches(
  history: readonly Operation[],
  records: readonly WatchRecord[],
  compactions: readonly Compaction[],
  watchers: number,
  shardOf: (key: string) => number,
): WatchVerdict {
  const problems: string[] = [];
  const rule = new Map<string, number>();
  const problem = (name: string, line: string) => {
    const n = (rule.get(name) ?? 0) + 1;
    rule.set(name, n);
    if (n <= perRuleMax) problems.push(`${name}: ${line}`);
  };
  const describe = (r: WatchRecord) =>
    `watcher ${r.watcher} ${r.type} ${r.key}${r.value === null ? '' : `=${r.value}`} at shard ${r.shard} index ${r.index}`;

  // 1. order, once.
  const last = new Map<string, number>();
  for (const r of records) {
    const k = `${r.watcher}/${r.shard}`;
    const before = last.get(k) ?? -1;
    if (r.index <= before) problem('order', `${describe(r)} came after index ${before}`);
    last.set(k, Math.max(before, r.index));
  }

  // 2. agreement.
  const seenAt = new Map<string, WatchRecord>();
  for (const r of records) {
    const k = `${r.shard}/${r.index}`;
    const other = seenAt.get(k);
    if (other === undefined) seenAt.set(k, r);
    else if (other.key !== r.key || other.type !== r.type || other.value !== r.value)
      problem('agreement', `${describe(r)}, but ${describe(other)}`);
  }

  // 3. taken effect.
  const mayHave = new Map<string, Operation[]>();
  for (const o of history) {
    if (o.outcome === 'fail' || o.op.f === 'read') continue;
    if (o.outcome === 'ok' && o.output?.kind === 'preconditionFailed') continue;
    if (o.outcome === 'ok' && o.op.f === 'delete' && o.output?.kind !== 'deleted') continue;
    const k = o.op.f === 'delete' ? `${o.key}\u0000delete` : `${o.key}\u0000put\u0000${o.op.value}`;
    mayHave.set(k, [...(mayHave.get(k) ?? []), o]);
  }
  for (const r of records) {
    const k = r.type === 'delete' ? `${r.key}\u0000delete` : `${r.key}\u0000put\u0000${r.value}`;
    const ops = mayHave.get(k) ?? [];
    const explained =
      r.type === 'delete'
        ? ops.length > 0
        : ops.some(
            (o) =>
              o.outcome === 'info' || (o.output?.kind === 'written' && o.output.version === String(r.index)),
          );
    if (!explained) problem('taken effect', `${describe(r)}: no write that took effect made it`);
  }

  // 4. no gap.
  const acked = history.filter(
    (o) => o.outcome === 'ok' && o.output?.kind === 'written' && (o.op.f === 'write' || o.op.f === 'cas'),
  );
  const segments = new Map<string, WatchRecord[]>();
  for (const r of records) {
    const k = `${r.watcher}/${r.segment}`;
    segments.set(k, [...(segments.get(k) ?? []), r]);
  }
  for (const [seg, rs] of segments) {
    const byShard = new Map<number, { first: number; last: number; seen: Set<number> }>();
    for (const r of rs) {
      const s = byShard.get(r.shard) ?? { first: r.index, last: r.index, seen: new Set<number>() };
      s.first = Math.min(s.first, r.index);
      s.last = Math.max(s.last, r.index);
      s.seen.add(r.index);
      byShard.set(r.shard, s);
    }
    for (const o of acked) {
      const index = Number((o.output as { version: string }).version);
      const shard = shardOf(o.key);
      const s = byShard.get(shard);
      if (s === undefined || index < s.first || index > s.last) continue;
      if (!s.seen.has(index))
        problem(
          'no gap',
          `watcher/segment ${seg} saw shard ${shard} from ${s.first} to ${s.last} but not ${o.key} written at ${index}`,
        );
    }
  }

  // 5. honest 410s.
  for (const c of compactions) {
    const m = /at index (\d+) of shard (\d+), older than the changes it keeps \(after index (\d+)\)/.exec(
      c.message,
    );
    if (m === null) {
      problem('410', `watcher ${c.watcher}: a 410 that does not say where: ${c.message}`);
      continue;
    }
    const [at, shard, floor] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (at >= floor)
      problem(
        '410',
        `watcher ${c.watcher}: refused at index ${at} of shard ${shard}, yet kept after ${floor}`,
      );
    const seen = records
      .filter((r) => r.watcher === c.watcher && r.segment === c.segment && r.shard === shard)
      .reduce((n, r) => Math.max(n, r.index), 0);
    if (at < seen)
      problem(
        '410',
        `watcher ${c.watcher}: its cursor at ${at} of shard ${shard} is before what it had seen (${seen})`,
      );
  }

  for (const [name, n] of rule) if (n > perRuleMax) problems.push(`${name}: … and ${n - perRuleMax} more`);
  return {
    watchers,
    events: records.length,
    segments: segments.size,
    compactions: compactions.length,
    problems,
  };
}
