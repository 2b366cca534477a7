import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCommand, type KeyCommand } from '../../../src/kv/commands.js';
import type { KVResult } from '../../../src/kv/results.js';
import type { SessionLimits } from '../../../src/kv/sessions.js';
import { KVStateMachine } from '../../../src/kv/state-machine.js';

const limits: SessionLimits = { seqWindow: 3, clientsMax: 3, idleEntriesMax: 40 };
const expired: KVResult = { ok: false, code: 'session_expired' };

interface ModelClient {
  readonly id: string;
  lastIndex: number;
  seqMax: number;
  readonly results: Map<number, KVResult>;
}

/** The rules of README's API and the session table, written as plainly as possible. */
class Model {
  readonly keys = new Map<string, { value: Uint8Array; version: string }>();
  /** Least recently seen first. */
  clients: ModelClient[] = [];

  apply(index: number, cmd: KeyCommand | null): KVResult | null {
    this.clients = this.clients.filter((c) => c.lastIndex > index - limits.idleEntriesMax);
    if (cmd === null) return null;
    if (cmd.session === null) return this.write(index, cmd);
    const { client, seq } = cmd.session;
    let c = this.clients.find((x) => x.id === client);
    if (c === undefined && seq > limits.seqWindow) return expired;
    c ??= { id: client, lastIndex: index, seqMax: 0, results: new Map() };
    this.clients = [...this.clients.filter((x) => x.id !== client), c];
    c.lastIndex = index;
    const first = c.results.get(seq);
    if (first !== undefined) return first;
    if (seq <= c.seqMax - limits.seqWindow) return expired;
    const result = this.write(index, cmd);
    c.results.set(seq, result);
    c.seqMax = Math.max(c.seqMax, seq);
    for (const old of [...c.results.keys()]) if (old <= c.seqMax - limits.seqWindow) c.results.delete(old);
    if (this.clients.length > limits.clientsMax) this.clients.shift();
    return result;
  }

  write(index: number, cmd: KeyCommand): KVResult {
    const current = this.keys.get(cmd.key);
    const matchFails = cmd.cond.ifMatch !== null && current?.version !== cmd.cond.ifMatch;
    const noneMatchFails = cmd.cond.ifNoneMatch && current !== undefined;
    if (matchFails || noneMatchFails) return { ok: false, code: 'precondition_failed' };
    if (cmd.op === 'delete') {
      if (!this.keys.delete(cmd.key)) return { ok: false, code: 'not_found' };
      return { ok: true, op: 'delete' };
    }
    this.keys.set(cmd.key, { value: cmd.value, version: String(index) });
    return { ok: true, op: 'put', version: String(index) };
  }

  list(prefix: string, after: string | null, limit: number) {
    const matching = [...this.keys.keys()]
      .filter((k) => k.startsWith(prefix) && (after === null || byteOrder(k, after) > 0))
      .sort(byteOrder);
    const items = matching.slice(0, limit).map((key) => ({ key, ...this.keys.get(key)! }));
    return { items, more: matching.length > limit };
  }
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const keyArb = fc.constantFrom('a', 'ab', 'b', 'é', 'ée', '\uFFFD', '\uFFFDz', '😀', '😀x', 'a😀');
const prefixArb = fc.constantFrom('', 'a', 'é', '\uFFFD', '😀', 'z');
const condArb = fc.record({
  ifMatch: fc.option(fc.oneof(fc.integer({ min: 1, max: 120 }).map(String), fc.constant('x')), { freq: 3 }),
  ifNoneMatch: fc.boolean(),
});
const sessionArb = fc.option(
  fc.record({
    client: fc.constantFrom('c1', 'c2', 'c3', 'c4', 'c5', 'c6'),
    seq: fc.integer({ min: 1, max: 9 }),
  }),
  { freq: 4 },
);
const commandArb: fc.Arbitrary<KeyCommand | null> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('put' as const),
      key: keyArb,
      value: fc.uint8Array({ maxLength: 3 }),
      cond: condArb,
      session: sessionArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('delete' as const),
      key: keyArb,
      cond: condArb,
      session: sessionArb,
    }),
  },
  { weight: 1, arbitrary: fc.constant(null) },
);
const gapArb = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: 1, max: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: 30, max: 45 }) },
);
const stepArb = fc.record({ gap: gapArb, cmd: commandArb });
const queryArb = fc.record({
  prefix: prefixArb,
  after: fc.option(keyArb, { freq: 2 }),
  limit: fc.integer({ min: 0, max: 12 }),
});

describe('KVStateMachine against a reference model', () => {
  it('matches the model on every result and read; a snapshot taken anywhere continues identically', () => {
    fc.assert(
      fc.property(
        fc.array(stepArb, { maxLength: 250 }),
        fc.nat(),
        fc.array(queryArb, { maxLength: 10 }),
        (steps, cutSeed, queries) => {
          const kv = new KVStateMachine(limits);
          const model = new Model();
          const cut = cutSeed % (steps.length + 1);
          let restored: KVStateMachine | null = null;
          let index = 0;
          for (const [i, step] of steps.entries()) {
            if (i === cut) restored = KVStateMachine.restore(kv.snapshot());
            index += step.gap;
            const expected = model.apply(index, step.cmd);
            if (step.cmd === null) {
              kv.applyNoop(index);
              restored?.applyNoop(index);
              continue;
            }
            const data = encodeCommand(step.cmd);
            const result = kv.apply(index, data);
            expect(result).toEqual(expected);
            if (restored !== null) expect(restored.apply(index, data)).toEqual(result);
          }
          restored ??= KVStateMachine.restore(kv.snapshot());
          expect(restored.digest()).toBe(kv.digest());
          expect(kv.appliedIndex).toBe(index);
          expect(kv.size).toBe(model.keys.size);
          expect(kv.sessionCount).toBe(model.clients.length);
          expect(kv.list('', null, 1000)).toEqual(model.list('', null, 1000));
          for (const q of queries)
            expect(kv.list(q.prefix, q.after, q.limit)).toEqual(model.list(q.prefix, q.after, q.limit));
        },
      ),
      { numRuns: 300 },
    );
  });
});
