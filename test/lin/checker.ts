/**
 * The linearizability checker: the Wing–Gong search with Lowe's just-in-time linearization and
 * memoisation of (linearized set, state), as in Knossos and Porcupine, run per key (a register
 * per key, and linearizability is compositional). `info` operations may be linearized anywhere
 * after their call, or never. On a violation it reports the key and the shortest stretch of
 * history that cannot be explained: the operations concurrent with the first one that no
 * linearization of what came before can place.
 *
 * Before the search, each key's history is sharpened with what it says about itself (sound
 * because written values are unique and a version belongs to one write):
 * - `info` reads are dropped: they changed nothing and observed nothing;
 * - an `info` write or compare-and-set whose value (written by no other operation) some ok read
 *   observed did take effect, before that read returned: it becomes an operation that must be linearized, completing at the
 *   earliest such read's return (so the search need not try it everywhere until the end);
 * - versions observed anywhere for a value are known to the model (register-model.ts).
 * The linearized set is memoised as a 64-bit Zobrist hash (two independent 32-bit halves),
 * updated in O(1) per step.
 */

import { describeOp, type Operation } from './history.js';
import { absent, learnVersions, type RegisterState, stateKey, step } from './register-model.js';

export interface KeyVerdict {
  readonly key: string;
  readonly ok: boolean;
  readonly operations: number;
  /** On a violation: a readable stretch of history that shows it. */
  readonly explanation: string | null;
  /** The search gave up (too many states); not a proof either way. */
  readonly unknown: boolean;
  /** On a violation: the operation no linearization could place. */
  readonly stuck?: Operation;
}

export interface CheckOptions {
  /** Most search states per key before the verdict is `unknown`. */
  readonly statesMax?: number;
}

/** Checks every key of the history; `fail` operations are ignored (known not applied). */
export function checkHistory(history: readonly Operation[], o: CheckOptions = {}): KeyVerdict[] {
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    if (op.outcome === 'fail') continue;
    if (op.outcome === 'info' && op.op.f === 'read') continue;
    const list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, [op]);
    else list.push(op);
  }
  return [...byKey.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, ops]) => checkKey(key, ops, o.statesMax ?? 2_000_000));
}

interface Event {
  readonly op: number;
  readonly isCall: boolean;
  readonly time: number;
  prev: Event | null;
  next: Event | null;
  match: Event | null;
}

/** Deterministic random 32-bit words for the Zobrist hash (splitmix32). */
function zobrist(n: number, salt: number): Uint32Array {
  const out = new Uint32Array(n);
  let x = salt >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    out[i] = (z ^ (z >>> 16)) >>> 0;
  }
  return out;
}

/**
 * An `info` write or compare-and-set whose value an ok read observed took effect before that
 * read's return: the time by which it must be linearized (never before its call), else Infinity.
 */
function mustTakeEffectBy(ops: readonly Operation[]): number[] {
  const writers = new Map<string, number>();
  for (const o of ops)
    if (o.op.f === 'write' || o.op.f === 'cas') writers.set(o.op.value, (writers.get(o.op.value) ?? 0) + 1);
  const firstSeen = new Map<string, number>();
  for (const o of ops) {
    if (o.outcome !== 'ok' || o.output?.kind !== 'value') continue;
    const v = o.output.value;
    firstSeen.set(v, Math.min(firstSeen.get(v) ?? Number.POSITIVE_INFINITY, o.ret));
  }
  return ops.map((o) => {
    if (o.outcome !== 'info' || (o.op.f !== 'write' && o.op.f !== 'cas')) return o.ret;
    if (writers.get(o.op.value) !== 1) return o.ret;
    const seen = firstSeen.get(o.op.value);
    return seen === undefined ? o.ret : Math.max(o.call, seen);
  });
}

function checkKey(key: string, ops: readonly Operation[], statesMax: number): KeyVerdict {
  const n = ops.length;
  const known = learnVersions(ops);
  const by = mustTakeEffectBy(ops);
  // Operations the search must linearize: the ok ones and the info ones known to have taken effect.
  const required = ops.map((o, i) => o.outcome === 'ok' || Number.isFinite(by[i]!));
  const zLo = zobrist(n, 0x1234567);
  const zHi = zobrist(n, 0x7654321);
  // Events in time order; at equal times returns come before calls (an operation that returned
  // at t strictly precedes one called at t only if we say so; treating them as concurrent would
  // accept more histories, so order returns first to stay strict).
  const events: Event[] = [];
  ops.forEach((o, i) => {
    const call: Event = { op: i, isCall: true, time: o.call, prev: null, next: null, match: null };
    const ret: Event = { op: i, isCall: false, time: by[i]!, prev: null, next: null, match: null };
    call.match = ret;
    ret.match = call;
    events.push(call, ret);
  });
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? 1 : -1));
  const head: Event = { op: -1, isCall: false, time: -1, prev: null, next: null, match: null };
  let last = head;
  for (const e of events) {
    e.prev = last;
    last.next = e;
    last = e;
  }
  const completedTotal = required.filter(Boolean).length;

  // The Zobrist hash of which operations are linearized on the current path.
  let hLo = 0;
  let hHi = 0;
  const toggle = (i: number) => {
    hLo = (hLo ^ zLo[i]!) >>> 0;
    hHi = (hHi ^ zHi[i]!) >>> 0;
  };
  let linearizedCompleted = 0;
  const cache = new Set<string>();
  const stack: { call: Event; state: RegisterState }[] = [];
  let state: RegisterState = absent;
  let entry = head.next;
  let states = 0;
  // The deepest point reached, for the explanation.
  let best = { depth: -1, stuckAt: -1 };

  const lift = (call: Event) => {
    const ret = call.match!;
    call.prev!.next = call.next;
    if (call.next !== null) call.next.prev = call.prev;
    ret.prev!.next = ret.next;
    if (ret.next !== null) ret.next.prev = ret.prev;
  };
  const unlift = (call: Event) => {
    const ret = call.match!;
    ret.prev!.next = ret;
    if (ret.next !== null) ret.next.prev = ret;
    call.prev!.next = call;
    if (call.next !== null) call.next.prev = call;
  };
  const cacheKey = (s: RegisterState) => `${hLo}:${hHi}|${stateKey(s)}`;

  while (true) {
    if (linearizedCompleted === completedTotal) {
      return { key, ok: true, operations: n, explanation: null, unknown: false };
    }
    if (++states > statesMax) return { key, ok: false, operations: n, explanation: null, unknown: true };
    if (entry === null) throw new Error('checker: ran past the end of the history');
    if (entry.isCall) {
      const o = ops[entry.op]!;
      const next = step(state, o.op, o.outcome === 'ok' ? o.output : null, known);
      if (next !== null) {
        toggle(entry.op);
        const k = cacheKey(next);
        if (!cache.has(k)) {
          cache.add(k);
          stack.push({ call: entry, state });
          state = next;
          if (required[entry.op]) linearizedCompleted++;
          lift(entry);
          entry = head.next;
          continue;
        }
        toggle(entry.op);
      }
      entry = entry.next;
      continue;
    }
    // A return whose operation is not linearized yet: everything before must be undone.
    if (stack.length > best.depth) best = { depth: stack.length, stuckAt: entry.op };
    const top = stack.pop();
    if (top === undefined) {
      return {
        key,
        ok: false,
        operations: n,
        explanation: explain(ops, best.stuckAt),
        unknown: false,
        ...(ops[best.stuckAt] === undefined ? {} : { stuck: ops[best.stuckAt] }),
      };
    }
    toggle(top.call.op);
    if (required[top.call.op]) linearizedCompleted--;
    state = top.state;
    unlift(top.call);
    entry = top.call.next;
  }
}

/**
 * The operation no linearization could place, the last operations that completed before it, and
 * every operation that overlaps it in time; indeterminate operations called long before (still
 * pending, so they overlap everything) are only counted.
 */
function explain(ops: readonly Operation[], stuckAt: number): string {
  const stuck = ops[stuckAt];
  if (stuck === undefined) return 'no operation could be linearized';
  const lo = stuck.call;
  const hi = stuck.ret;
  const recentMs = 10_000;
  const overlapping = ops.filter((o) => o.call <= hi && o.ret >= lo).sort((a, b) => a.call - b.call);
  const oldPending = overlapping.filter(
    (o) => !Number.isFinite(o.ret) && o.call < lo - recentMs && o !== stuck,
  );
  const around = overlapping.filter((o) => !oldPending.includes(o)).slice(0, 40);
  const before = ops
    .filter((o) => o.ret < lo && o.outcome === 'ok')
    .sort((a, b) => b.ret - a.ret)
    .slice(0, 3)
    .reverse();
  return [
    `cannot linearize ${describeOp(stuck)}`,
    ...before.map((o) => `  before: ${describeOp(o)}`),
    ...around.map((o) => `  ${o === stuck ? '>' : ' '} ${describeOp(o)}`),
    ...(oldPending.length > 0
      ? [
          `  (and ${oldPending.length} indeterminate operation(s) called more than ${recentMs / 1000} s earlier: ` +
            `${oldPending
              .slice(0, 8)
              .map((o) => `#${o.id}`)
              .join(', ')}${oldPending.length > 8 ? ', ...' : ''})`,
        ]
      : []),
  ].join('\n');
}
