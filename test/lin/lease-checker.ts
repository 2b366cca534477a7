/**
 * Judges the leases of a fault round (lease-round.ts): two holders (lease-holder.ts) each put keys
 * under a lease of their own, a `live` one that keeps renewing and a `paused` one that the round
 * SIGSTOPs for longer than its TTL. What a correct cluster must show:
 *
 * 1. the holders worked: each was granted its lease and had every put acknowledged before the
 *    faults began (else nothing else can be judged of it);
 * 2. never early: no replica expires a lease before `ttl` after the last renewal that succeeded
 *    was *sent* (every shard applied it after that). No read of a lease key may return 404, and
 *    no watcher may be told of its delete, before that time (less `clockToleranceMs`: holders
 *    stamp their events with their own Date.now());
 * 3. paused leases expire: each key of the paused holder is seen gone (a linearizable GET
 *    answered 404, or a watcher was told of its delete) no later than `expiryBound`: the pause
 *    began + ttl + the longest election timeout + `slackMs`, and, for every fault, membership
 *    move, node change or the final heal that overlapped that window, its end + ttl + election
 *    + slack (a replica that was restarted, cut off, added or caught up by a snapshot counts the
 *    lease from when it learnt it again: late, never early). It was paused for at least ttl +
 *    election + `pauseMarginMs`, and once resumed it reports the lease lost (and no renewal of
 *    it succeeds after its keys were gone);
 * 4. live leases stay: a holder that never reported its lease lost still has every key, with the
 *    value and version it put, in every read (none answers 404) and no watcher hears a delete of
 *    it. A live holder that did report it lost (its TTL is longer than any fault the nemesis holds
 *    and the recovery after it, but membership and grow-shrink changes, or a node that died, can
 *    leave a shard without a quorum for longer) gets a note, and its keys may then go, but not
 *    before the time rule 2 gives;
 * 5. linearizable reads agree: the final GET of every lease key through every node answers, and
 *    all answers are the same (the put value and version for a live lease, 404 for the paused
 *    one); and every read of the lease keys, with the holders' puts and the revocations (an
 *    indeterminate delete from the time rule 2 gives on, for the leases that may expire), is
 *    linearizable (checker.ts);
 * 6. watch: the lease watchers' events are the holders' puts (value and version) and the
 *    revocations' deletes, of keys that may go and not early (rule 2), never a put after a
 *    delete; per watcher and shard in index order, each (index, key) once; every watcher that saw
 *    an index of a shard saw the same events there (a revocation deletes all of a shard's keys of
 *    the lease in one entry: all of them or none), and none skipped an index inside the span it
 *    saw of that shard in one segment.
 */

import { checkHistory, type KeyVerdict } from './checker.js';
import type { Operation } from './history.js';
import type { Compaction, WatchRecord } from './watchers.js';

/** Times are ms since the round began (negative: before the nemesis phase). */
export interface HolderPut {
  readonly key: string;
  readonly value: string;
  readonly version: string;
  readonly call: number;
  readonly ret: number;
}

export interface Renewal {
  /** When the holder sent it (the Lease counts from here). */
  readonly sentAt: number;
  /** When its answer came. */
  readonly at: number;
  readonly ok: boolean;
  readonly code?: string;
  readonly message?: string;
}

export interface HolderRecord {
  readonly name: string;
  readonly role: 'live' | 'paused';
  readonly ttlMs: number;
  readonly keys: readonly string[];
  readonly pid: number | null;
  lease: string | null;
  /** The grant: `call` is before it was sent. */
  granted: { readonly call: number; readonly ret: number } | null;
  readonly puts: HolderPut[];
  ready: number | null;
  readonly renewals: Renewal[];
  /** When `lease.lost` settled, with the error's code and message. */
  lost: { readonly at: number; readonly code: string; readonly message: string } | null;
  /** SIGSTOP and SIGCONT, for the paused holder. */
  pausedAt: number | null;
  resumedAt: number | null;
  /** The holder's own errors: a failed grant or put, an exit before it was stopped. */
  readonly errors: string[];
}

/** Something that may make a replica learn a lease afresh (and so expire it late). */
export interface Disruption {
  readonly start: number;
  readonly end: number;
  readonly what: string;
}

export interface LeaseRecord {
  readonly holders: readonly HolderRecord[];
  /** Every linearizable GET of a lease key the round made: polls, and the final reads. */
  readonly reads: readonly Operation[];
  /** The client number of the final reads among `reads`. */
  readonly finalClient: number;
  /** The nodes every lease key was finally read through. */
  readonly nodes: readonly string[];
  readonly watch: readonly WatchRecord[];
  readonly compactions: readonly Compaction[];
  readonly watchers: number;
  readonly watchErrors: readonly string[];
  readonly disruptions: readonly Disruption[];
  /** The longest election timeout: 2 × electionTicks × tickMs. */
  readonly electionMaxMs: number;
  /** What an expiry may take beyond ttl + election: the leader's tick, a revoke retried after a lost proposal, catching up. */
  readonly slackMs: number;
  /** The paused holder is stopped for at least ttl + election + this. */
  readonly pauseMarginMs: number;
  /** The longest fault the nemesis holds (for the live lease's message). */
  readonly holdMaxMs: number;
}

export interface HolderSummary {
  readonly name: string;
  readonly role: 'live' | 'paused';
  readonly lease: string | null;
  readonly ttlMs: number;
  readonly keys: readonly string[];
  readonly renewalsOk: number;
  readonly renewalsFailed: number;
  /** The last renewal that succeeded was sent then (or the grant), + ttl: the earliest any replica may expire it. */
  readonly mayExpireFrom: number | null;
  readonly lost: HolderRecord['lost'];
  readonly pausedAt: number | null;
  readonly resumedAt: number | null;
  /** When the last of its keys was first seen gone; null: not all were. */
  readonly goneBy: number | null;
  /** The paused lease's keys had to be gone by then (expiryBound). */
  readonly bound: number | null;
  readonly boundExtendedBy: readonly string[];
  /** What the final reads through every node showed (one line). */
  readonly finally: string;
}

export interface LeaseVerdict {
  readonly holders: readonly HolderSummary[];
  readonly reads: number;
  readonly finalReads: number;
  readonly watchEvents: number;
  readonly watchers: number;
  /** Linearizability of each lease key (rule 5). */
  readonly verdicts: readonly KeyVerdict[];
  readonly electionMaxMs: number;
  readonly slackMs: number;
  /** Everything wrong, one line each (at most 20 per rule). */
  readonly problems: readonly string[];
  /** Worth knowing, not wrong: a live lease lost in its time (no quorum could renew it). */
  readonly notes: readonly string[];
}

/** Holders stamp their events with Date.now(), the round with performance.now(): they may differ by this much. */
export const clockToleranceMs = 50;

/**
 * The time by which a lease whose holder stopped renewing at `from` must be gone: from + ttl +
 * election + slack, pushed to end + ttl + election + slack by every disruption that overlaps the
 * window (up to the bound as it grows; one that ended at most `slackMs` before `from` counts, for
 * a replica still catching up). Disruptions that began at or after `until` (when the keys were
 * seen gone) are left out: they delayed nothing, and leaving them out never changes whether a
 * time before `until` is within the bound.
 */
export function expiryBound(
  from: number,
  ttlMs: number,
  electionMaxMs: number,
  slackMs: number,
  disruptions: readonly Disruption[],
  until = Number.POSITIVE_INFINITY,
): { bound: number; extendedBy: Disruption[] } {
  const after = ttlMs + electionMaxMs + slackMs;
  let bound = from + after;
  const extendedBy: Disruption[] = [];
  const left = new Set(disruptions.filter((d) => d.start < until));
  for (let changed = true; changed; ) {
    changed = false;
    for (const d of left) {
      if (d.start > bound || d.end < from - slackMs) continue;
      left.delete(d);
      changed = true;
      if (d.end + after > bound) {
        bound = d.end + after;
        extendedBy.push(d);
      }
    }
  }
  return { bound, extendedBy };
}

const perRuleMax = 20;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export function checkLeases(r: LeaseRecord, shardOf: (key: string) => number): LeaseVerdict {
  const problems: string[] = [];
  const notes: string[] = [];
  const rule = new Map<string, number>();
  const problem = (name: string, line: string) => {
    const n = (rule.get(name) ?? 0) + 1;
    rule.set(name, n);
    if (n <= perRuleMax) problems.push(`${name}: ${line}`);
  };
  const tol = clockToleranceMs;
  const ownerOf = new Map<string, HolderRecord>();
  for (const h of r.holders) for (const k of h.keys) ownerOf.set(k, h);
  const finals = r.reads.filter((o) => o.client === r.finalClient);

  // 1. The holders worked.
  const usable = new Set<HolderRecord>();
  for (const h of r.holders) {
    for (const e of h.errors) problem('holder', `${h.name}: ${e}`);
    if (h.granted === null || h.lease === null) problem('holder', `${h.name}: was never granted its lease`);
    else if (h.ready === null || h.puts.length !== h.keys.length)
      problem('holder', `${h.name}: ${h.puts.length} of its ${h.keys.length} puts were acknowledged`);
    else usable.add(h);
  }

  const mayExpireFrom = new Map<HolderRecord, number>();
  const mayGo = (h: HolderRecord) => h.role === 'paused' || h.lost !== null;
  for (const h of usable) {
    const lastOk = Math.max(h.granted!.call, ...h.renewals.filter((x) => x.ok).map((x) => x.sentAt));
    mayExpireFrom.set(h, lastOk + h.ttlMs);
  }

  // When each key was first seen gone: a 404 (its return) or a watcher's delete (its arrival).
  const goneAt = new Map<string, { at: number; how: string }>();
  const seenGone = (key: string, at: number, how: string) => {
    const g = goneAt.get(key);
    if (g === undefined || at < g.at) goneAt.set(key, { at, how });
  };
  for (const o of r.reads)
    if (o.outcome === 'ok' && o.output?.kind === 'absent')
      seenGone(o.key, o.ret, `GET via ${o.node ?? '?'} answered 404 at ${s(o.ret)}`);
  for (const w of r.watch)
    if (w.type === 'delete') seenGone(w.key, w.at, `watcher ${w.watcher} heard its delete at ${s(w.at)}`);

  const summaries: HolderSummary[] = [];
  for (const h of r.holders) {
    const ok = usable.has(h);
    const from = mayExpireFrom.get(h) ?? null;
    const putOf = new Map(h.puts.map((p) => [p.key, p]));
    let bound: number | null = null;
    let extendedBy: Disruption[] = [];
    if (ok) {
      // 2. Never early; 4. a live lease's keys stay.
      for (const o of r.reads) {
        if (!h.keys.includes(o.key) || o.outcome !== 'ok' || o.output === null) continue;
        const via = `GET ${o.key} via ${o.node ?? '?'} [${s(o.call)}, ${s(o.ret)}]`;
        if (o.output.kind === 'absent') {
          if (!mayGo(h))
            problem('live lease', `${h.name}: ${via} answered 404, yet the lease was never lost`);
          else if (o.ret < from! - tol)
            problem(
              'early',
              `${h.name}: ${via} answered 404 before the lease could expire (last renewal sent at ${s(from! - h.ttlMs)} + ttl ${s(h.ttlMs)} = ${s(from!)})`,
            );
        } else if (o.output.kind === 'value') {
          const p = putOf.get(o.key);
          if (p === undefined || o.output.value !== p.value || o.output.version !== p.version)
            problem(
              'value',
              `${h.name}: ${via} read ${o.output.value}@${o.output.version}, the holder put ${p?.value}@${p?.version}`,
            );
        }
      }
      for (const w of r.watch) {
        if (w.type !== 'delete' || !h.keys.includes(w.key)) continue;
        const what = `watcher ${w.watcher} heard the delete of ${w.key} (shard ${w.shard} index ${w.index}) at ${s(w.at)}`;
        if (!mayGo(h)) problem('live lease', `${h.name}: ${what}, yet the lease was never lost`);
        else if (w.at < from! - tol)
          problem('early', `${h.name}: ${what}, before the lease could expire (${s(from!)})`);
      }
      if (h.lost !== null && h.lost.code === 'not_found' && h.lost.at < from! - tol)
        problem(
          'early',
          `${h.name}: a node said the lease was gone (${h.lost.message}) at ${s(h.lost.at)}, before it could expire (${s(from!)})`,
        );

      if (h.role === 'live' && h.lost !== null)
        notes.push(
          `${h.name}: the live lease was lost at ${s(h.lost.at)} (${h.lost.code}: ${h.lost.message}), ` +
            `not before its time (${s(from!)}): no renewal succeeded for its ttl ${s(h.ttlMs)}, longer than any fault ` +
            `the nemesis holds (${s(r.holdMaxMs)}); its keys were allowed to go from then on`,
        );

      // 3. A paused lease expires.
      if (h.role === 'paused') {
        if (h.pausedAt === null) problem('paused lease', `${h.name}: the holder was never paused`);
        else {
          const held = (h.resumedAt ?? Number.POSITIVE_INFINITY) - h.pausedAt;
          const least = h.ttlMs + r.electionMaxMs + r.pauseMarginMs;
          if (held < least - tol)
            problem(
              'paused lease',
              `${h.name}: paused for ${s(held)} only, less than ttl + election + margin ${s(least)}`,
            );
          const lastGone = Math.max(...h.keys.map((k) => goneAt.get(k)?.at ?? Number.POSITIVE_INFINITY));
          ({ bound, extendedBy } = expiryBound(
            h.pausedAt,
            h.ttlMs,
            r.electionMaxMs,
            r.slackMs,
            r.disruptions,
            lastGone,
          ));
          for (const k of h.keys) {
            const g = goneAt.get(k);
            if (g === undefined)
              problem('paused lease', `${h.name}: ${k} was never seen gone (bound ${s(bound)})`);
            else if (g.at > bound)
              problem(
                'paused lease',
                `${h.name}: ${k} was first seen gone only at ${s(g.at)} (${g.how}), after ${s(bound)}`,
              );
          }
          if (h.lost !== null && h.lost.at < h.pausedAt)
            notes.push(
              `${h.name}: its lease was lost at ${s(h.lost.at)}, before its SIGSTOP (${s(h.pausedAt)}), not before its ` +
                `time (${s(from!)}): no quorum renewed it; the pause tested nothing more`,
            );
          if (h.lost === null)
            problem(
              'paused lease',
              `${h.name}: once resumed${h.resumedAt === null ? '' : ` at ${s(h.resumedAt)}`}, the holder never reported its lease lost`,
            );
          const firstGone = Math.min(...h.keys.map((k) => goneAt.get(k)?.at ?? Number.POSITIVE_INFINITY));
          for (const x of h.renewals)
            if (x.ok && x.sentAt > firstGone)
              problem(
                'paused lease',
                `${h.name}: a renewal sent at ${s(x.sentAt)} succeeded after its keys were gone (${s(firstGone)}): a revoked lease was renewed`,
              );
        }
      }
    }

    // 5. Final reads through every node agree.
    const answers: string[] = [];
    for (const k of h.keys) {
      const got = new Map<string, string>();
      for (const o of finals) {
        if (o.key !== k || o.outcome !== 'ok' || o.output === null) continue;
        got.set(
          o.node ?? '?',
          o.output.kind === 'absent'
            ? '404'
            : o.output.kind === 'value'
              ? `${o.output.value}@${o.output.version}`
              : '?',
        );
      }
      const missing = r.nodes.filter((n) => !got.has(n));
      if (missing.length > 0)
        problem('agreement', `${k}: no final read through ${missing.join(',')} succeeded`);
      const distinct = [...new Set(got.values())];
      if (distinct.length > 1)
        problem(
          'agreement',
          `${k}: the final reads disagree: ${[...got].map(([n, a]) => `${n} ${a}`).join(', ')}`,
        );
      const p = putOf.get(k);
      const expected = !ok
        ? null
        : h.role === 'paused'
          ? '404'
          : h.lost === null && p !== undefined
            ? `${p.value}@${p.version}`
            : null;
      if (expected !== null && distinct.length === 1 && distinct[0] !== expected)
        problem('agreement', `${h.name}: ${k} finally reads ${distinct[0]}, expected ${expected}`);
      answers.push(
        distinct.length === 1
          ? distinct[0] === '404'
            ? '404'
            : 'present'
          : distinct.length === 0
            ? 'none'
            : 'DISAGREE',
      );
    }
    const goneTimes = h.keys.map((k) => goneAt.get(k)?.at);
    summaries.push({
      name: h.name,
      role: h.role,
      lease: h.lease,
      ttlMs: h.ttlMs,
      keys: h.keys,
      renewalsOk: h.renewals.filter((x) => x.ok).length,
      renewalsFailed: h.renewals.filter((x) => !x.ok).length,
      mayExpireFrom: from,
      lost: h.lost,
      pausedAt: h.pausedAt,
      resumedAt: h.resumedAt,
      goneBy: goneTimes.every((t) => t !== undefined) ? Math.max(...(goneTimes as number[])) : null,
      bound,
      boundExtendedBy: extendedBy.map((d) => `${d.what} (${s(d.start)}-${s(d.end)})`),
      finally: [...new Set(answers)].join('/'),
    });
  }

  // 6. Watch.
  const describe = (w: WatchRecord) =>
    `watcher ${w.watcher} ${w.type} ${w.key}${w.value === null ? '' : `=${w.value}`} at shard ${w.shard} index ${w.index}`;
  for (const e of r.watchErrors) problem('watch', e);
  const last = new Map<string, number>();
  const seen = new Set<string>();
  for (const w of r.watch) {
    const k = `${w.watcher}/${w.shard}`;
    const before = last.get(k) ?? -1;
    if (w.index < before) problem('watch order', `${describe(w)} came after index ${before}`);
    const once = `${w.watcher}/${w.shard}/${w.index}/${w.key}`;
    if (seen.has(once)) problem('watch order', `${describe(w)} came twice`);
    seen.add(once);
    last.set(k, Math.max(before, w.index));
  }
  const at = new Map<string, Map<number, Set<string>>>();
  for (const w of r.watch) {
    const k = `${w.shard}/${w.index}`;
    const per = at.get(k) ?? new Map<number, Set<string>>();
    const set = per.get(w.watcher) ?? new Set<string>();
    set.add(`${w.type} ${w.key}${w.value === null ? '' : `=${w.value}`}`);
    per.set(w.watcher, set);
    at.set(k, per);
  }
  for (const [k, per] of at) {
    const views = [...per].map(([watcher, set]) => [watcher, [...set].sort().join(', ')] as const);
    if (new Set(views.map(([, v]) => v)).size > 1)
      problem(
        'watch agreement',
        `shard/index ${k}: ${views.map(([w, v]) => `watcher ${w} saw ${v}`).join('; ')}`,
      );
  }
  const segments = new Map<string, Map<number, { first: number; last: number; seen: Set<number> }>>();
  for (const w of r.watch) {
    const k = `${w.watcher}/${w.segment}`;
    const byShard = segments.get(k) ?? new Map<number, { first: number; last: number; seen: Set<number> }>();
    const x = byShard.get(w.shard) ?? { first: w.index, last: w.index, seen: new Set<number>() };
    x.first = Math.min(x.first, w.index);
    x.last = Math.max(x.last, w.index);
    x.seen.add(w.index);
    byShard.set(w.shard, x);
    segments.set(k, byShard);
  }
  for (const k of at.keys()) {
    const [shard, index] = k.split('/').map(Number) as [number, number];
    for (const [seg, byShard] of segments) {
      const x = byShard.get(shard);
      if (x !== undefined && index > x.first && index < x.last && !x.seen.has(index))
        problem(
          'watch gap',
          `watcher/segment ${seg} saw shard ${shard} from ${x.first} to ${x.last} but not index ${index}`,
        );
    }
  }
  const deletedAt = new Map<string, number>();
  for (const w of [...r.watch].sort((a, b) => a.index - b.index)) {
    const h = ownerOf.get(w.key);
    if (h === undefined) {
      problem('watch', `${describe(w)}: no holder has this key`);
      continue;
    }
    if (!usable.has(h)) continue;
    if (w.type === 'put') {
      const p = h.puts.find((x) => x.key === w.key);
      if (p === undefined || p.value !== w.value || p.version !== String(w.index))
        problem('watch', `${describe(w)}: the holder put ${p?.value}@${p?.version}`);
      const d = deletedAt.get(`${w.watcher}/${w.key}`);
      if (d !== undefined && w.index > d) problem('watch', `${describe(w)}: after its delete at index ${d}`);
    } else deletedAt.set(`${w.watcher}/${w.key}`, w.index);
  }
  for (const w of r.watch)
    if (shardOf(w.key) !== w.shard)
      problem('watch', `${describe(w)}: the key belongs to shard ${shardOf(w.key)}`);

  // 5. Linearizability: puts, reads, and each revocation as a delete that may happen from the
  // earliest expiry on; of the holders that got going (another's puts are not all known).
  let nextId = 1_000_000_000;
  const judged = new Set([...usable].flatMap((h) => h.keys));
  const history: Operation[] = r.reads.filter((o) => judged.has(o.key));
  for (const h of usable) {
    for (const p of h.puts)
      history.push({
        id: nextId++,
        client: -1,
        key: p.key,
        op: { f: 'write', value: p.value },
        call: p.call,
        ret: p.ret,
        outcome: 'ok',
        output: { kind: 'written', version: p.version },
        note: `${h.name} holder's put under lease ${h.lease}`,
      });
    if (mayGo(h))
      for (const k of h.keys)
        history.push({
          id: nextId++,
          client: -2,
          key: k,
          op: { f: 'delete' },
          call: mayExpireFrom.get(h)! - tol,
          ret: Number.POSITIVE_INFINITY,
          outcome: 'info',
          output: null,
          note: `the expiry of lease ${h.lease}, from its earliest time on`,
        });
  }
  const verdicts = checkHistory(history);
  for (const v of verdicts) {
    if (v.unknown) problem('linearizable', `${v.key}: no verdict (search budget exhausted)`);
    else if (!v.ok) problem('linearizable', `${v.key}: ${v.explanation ?? 'violation'}`);
  }

  for (const [name, n] of rule) if (n > perRuleMax) problems.push(`${name}: … and ${n - perRuleMax} more`);
  return {
    holders: summaries,
    reads: r.reads.length,
    finalReads: finals.length,
    watchEvents: r.watch.length,
    watchers: r.watchers,
    verdicts,
    electionMaxMs: r.electionMaxMs,
    slackMs: r.slackMs,
    problems,
    notes,
  };
}

/** The report's lease section. */
export function formatLeases(v: LeaseVerdict): string[] {
  const lines = [
    `leases: ${v.holders.length} holders, ${v.reads} linearizable reads of their keys (${v.finalReads} final, through every node), ` +
      `${v.watchEvents} events to ${v.watchers} watchers: ` +
      (v.problems.length === 0
        ? 'paused lease expired in time, never early; live lease kept; reads agree'
        : `${v.problems.length} problems`),
  ];
  const t = (ms: number | null) => (ms === null ? '-' : s(ms));
  for (const h of v.holders) {
    lines.push(
      `  ${h.name} holder: lease ${h.lease ?? '-'}, ttl ${s(h.ttlMs)}, keys ${h.keys.join(',')}; ` +
        `renewals ${h.renewalsOk} ok, ${h.renewalsFailed} failed; may expire from ${t(h.mayExpireFrom)}; ` +
        `${h.lost === null ? 'never lost' : `lost at ${s(h.lost.at)} (${h.lost.code})`}; final reads ${h.finally}`,
    );
    if (h.pausedAt !== null)
      lines.push(
        `    SIGSTOP at ${s(h.pausedAt)}, SIGCONT at ${t(h.resumedAt)}; keys gone by ${t(h.goneBy)}, bound ${t(h.bound)}` +
          (h.boundExtendedBy.length === 0 ? '' : ` (extended by ${h.boundExtendedBy.join('; ')})`),
      );
  }
  lines.push(
    `  bound = pause + ttl + election ${s(v.electionMaxMs)} + slack ${s(v.slackMs)}, or a disruption's end + the same`,
    ...v.notes.map((n) => `  note: ${n}`),
    ...v.problems.map((p) => `  ${p}`),
  );
  return lines;
}
