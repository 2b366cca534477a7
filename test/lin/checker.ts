/**
 * The linearizability checker: the Wing–Gong search with Lowe's just-in-time linearization and
 * memoisation of (linearized set, state), as in Knossos and Porcupine, run per key (a register
 * per key, and linearizability is compositional). `info` operations may be linearized anywhere
 * after their call, or never. On a violation it reports the key and the shortest stretch of
 * history that cannot be explained: the operations concurrent with the first one that no
 * linearization of what came before can place.
 */

import { describeOp, type Operation } from './history.js';
import { absent, type RegisterState, stateKey, step } from './register-model.js';

export interface KeyVerdict {
  readonly key: string;
  readonly ok: boolean;
  readonly operations: number;
  /** On a violation: a readable stretch of history that shows it. */
  readonly explanation: string | null;
  /** The search gave up (too many states); not a proof either way. */
  readonly unknown: boolean;
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

function checkKey(key: string, ops: readonly Operation[], statesMax: number): KeyVerdict {
  const n = ops.length;
  // Events in time order; at equal times returns come before calls (an operation that returned
  // at t strictly precedes one called at t only if we say so; treating them as concurrent would
  // accept more histories, so order returns first to stay strict).
  const events: Event[] = [];
  ops.forEach((o, i) => {
    const call: Event = { op: i, isCall: true, time: o.call, prev: null, next: null, match: null };
    const ret: Event = { op: i, isCall: false, time: o.ret, prev: null, next: null, match: null };
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
  const completedTotal = ops.filter((o) => o.outcome === 'ok').length;

  // One bit per operation: which are linearized on the current path.
  const linearized = new Uint8Array(Math.ceil(n / 8));
  const setBit = (i: number, on: boolean) => {
    if (on) linearized[i >> 3]! |= 1 << (i & 7);
    else linearized[i >> 3]! &= ~(1 << (i & 7));
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
  const cacheKey = (s: RegisterState) => `${Buffer.from(linearized).toString('base64')}|${stateKey(s)}`;

  while (true) {
    if (linearizedCompleted === completedTotal) {
      return { key, ok: true, operations: n, explanation: null, unknown: false };
    }
    if (++states > statesMax) return { key, ok: false, operations: n, explanation: null, unknown: true };
    if (entry === null) throw new Error('checker: ran past the end of the history');
    if (entry.isCall) {
      const o = ops[entry.op]!;
      const next = step(state, o.op, o.outcome === 'ok' ? o.output : null);
      if (next !== null) {
        setBit(entry.op, true);
        const k = cacheKey(next);
        if (!cache.has(k)) {
          cache.add(k);
          stack.push({ call: entry, state });
          state = next;
          if (o.outcome === 'ok') linearizedCompleted++;
          lift(entry);
          entry = head.next;
          continue;
        }
        setBit(entry.op, false);
      }
      entry = entry.next;
      continue;
    }
    // A return whose operation is not linearized yet: everything before must be undone.
    if (stack.length > best.depth) best = { depth: stack.length, stuckAt: entry.op };
    const top = stack.pop();
    if (top === undefined) {
      return { key, ok: false, operations: n, explanation: explain(ops, best.stuckAt), unknown: false };
    }
    setBit(top.call.op, false);
    if (ops[top.call.op]!.outcome === 'ok') linearizedCompleted--;
    state = top.state;
    unlift(top.call);
    entry = top.call.next;
  }
}

/** The operation no linearization could place, with every operation that overlaps it in time. */
function explain(ops: readonly Operation[], stuckAt: number): string {
  const stuck = ops[stuckAt];
  if (stuck === undefined) return 'no operation could be linearized';
  const lo = stuck.call;
  const hi = stuck.ret;
  const around = ops
    .filter((o) => o.call <= hi && o.ret >= lo)
    .sort((a, b) => a.call - b.call)
    .slice(0, 40);
  const before = ops
    .filter((o) => o.ret < lo && o.outcome === 'ok')
    .sort((a, b) => b.ret - a.ret)
    .slice(0, 3)
    .reverse();
  return [
    `cannot linearize ${describeOp(stuck)}`,
    ...before.map((o) => `  before: ${describeOp(o)}`),
    ...around.map((o) => `  ${o === stuck ? '>' : ' '} ${describeOp(o)}`),
  ].join('\n');
}
