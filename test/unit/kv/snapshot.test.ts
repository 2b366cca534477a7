import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { KVSnapshotError } from '../../../src/kv/errors.js';
import { KVStateMachine } from '../../../src/kv/state-machine.js';
import { bytes, TestLog } from './kv-helpers.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });
const limits = { seqWindow: 4, clientsMax: 3, idleEntriesMax: 50 };

/** A machine with keys, a delete, no-ops and sessions of several clients. */
function populated(): TestLog {
  const log = new TestLog(new KVStateMachine(limits));
  log.put('a', 'A', { session: { client: 'c1', seq: 1 } });
  log.put('b😀', 'B', { session: { client: 'c2', seq: 2 } });
  log.put('b\uFFFD', 'B2');
  log.del('a', { session: { client: 'c1', seq: 3 } });
  log.noop();
  log.put('c', 'C', { ifNoneMatch: true, session: { client: 'c3', seq: 4 } });
  log.put('c', 'no', { ifMatch: '1', session: { client: 'c1', seq: 2 } });
  return log;
}

function snapshotError(data: Uint8Array): string {
  try {
    KVStateMachine.restore(data);
  } catch (err) {
    expect(err).toBeInstanceOf(KVSnapshotError);
    return (err as Error).message;
  }
  throw new Error('restore accepted a bad snapshot');
}

function edited(edit: (raw: unknown[]) => void): Uint8Array {
  const raw = unpackr.unpack(populated().kv.snapshot()) as unknown[];
  edit(raw);
  return packr.pack(raw);
}

describe('snapshot and restore', () => {
  it('an empty machine round-trips', () => {
    const kv = new KVStateMachine();
    const back = KVStateMachine.restore(kv.snapshot());
    expect(back.appliedIndex).toBe(0);
    expect(back.size).toBe(0);
    expect(back.digest()).toBe(kv.digest());
  });

  it('restores keys, values, versions, sessions, limits and the applied index', () => {
    const log = populated();
    const back = KVStateMachine.restore(log.kv.snapshot());
    expect(back.digest()).toBe(log.kv.digest());
    expect(back.appliedIndex).toBe(7);
    expect(back.size).toBe(3);
    expect(back.sessionCount).toBe(3);
    expect(back.sessionLimits).toEqual(limits);
    expect(back.list('', null, 10)).toEqual(log.kv.list('', null, 10));
    expect(back.list('', null, 10).items.map((i) => i.key)).toEqual(['b\uFFFD', 'b😀', 'c']);
    expect(back.get('b😀')).toEqual({ value: bytes('B'), version: '2' });
    expect(back.get('a')).toBe(null);
  });

  it('a restored machine answers the rest of the log exactly as the original', () => {
    const original = populated();
    const restored = new TestLog(KVStateMachine.restore(original.kv.snapshot()), original.next);
    const steps = (log: TestLog) => [
      log.put('a', 'retry', { session: { client: 'c1', seq: 1 } }),
      log.del('a', { session: { client: 'c1', seq: 3 } }),
      log.put('z', 'Z', { session: { client: 'c4', seq: 1 } }),
      log.put('z', 'retry', { session: { client: 'c2', seq: 2 } }),
      log.put('z', 'Z2', { ifMatch: '10' }),
    ];
    const expected = steps(original);
    expect(steps(restored)).toEqual(expected);
    expect(expected).toEqual([
      { ok: true, op: 'put', version: '1' },
      { ok: true, op: 'delete' },
      { ok: true, op: 'put', version: '10' },
      { ok: true, op: 'put', version: '11' },
      { ok: false, code: 'precondition_failed' },
    ]);
    expect(restored.kv.digest()).toBe(original.kv.digest());
  });

  it('the snapshot is a copy: later writes to either machine do not reach the other', () => {
    const log = populated();
    const data = log.kv.snapshot();
    const before = log.kv.digest();
    log.put('c', 'changed');
    const back = KVStateMachine.restore(data);
    expect(back.digest()).toBe(before);
    expect(back.get('c')?.version).toBe('6');
    data.fill(0);
    expect(back.get('c')).toEqual({ value: bytes('C'), version: '6' });
  });

  it('the digest changes with any part of the state', () => {
    const a = populated();
    const b = populated();
    expect(a.kv.digest()).toBe(b.kv.digest());
    a.noop();
    expect(a.kv.digest()).not.toBe(b.kv.digest());
    b.noop();
    expect(a.kv.digest()).toBe(b.kv.digest());
    a.put('x', '1', { session: { client: 'c9', seq: 1 } });
    b.put('x', '1', { session: { client: 'c9', seq: 2 } });
    expect(a.kv.digest()).not.toBe(b.kv.digest());
  });

  it('refuses bytes that are not a snapshot', () => {
    expect(snapshotError(new Uint8Array([0xc1]))).toBe('snapshot has an unknown format');
    expect(snapshotError(new Uint8Array())).toMatch(/^snapshot is not msgpack/);
    const good = populated().kv.snapshot();
    expect(snapshotError(good.subarray(0, good.length - 3))).toMatch(/^snapshot is not msgpack/);
    expect(
      snapshotError(
        edited((raw) => {
          raw[0] = 2;
        }),
      ),
    ).toBe('snapshot has an unknown format');
  });

  it('refuses a snapshot whose content breaks an invariant', () => {
    const cases: [(raw: unknown[]) => void, string][] = [
      [(raw) => ((raw[1] as number) = -1), 'bad applied index'],
      [(raw) => ((raw[2] as number[])[0] = 0), 'session limit seqWindow must be ≥ 1'],
      [(raw) => (raw[3] as string[]).reverse(), 'bad key map: keys are not strictly ascending'],
      [(raw) => ((raw[3] as string[])[0] = ''), 'bad key map: key 0'],
      [(raw) => ((raw[4] as number[])[0] = 99), 'bad key map: version 0 above the applied index'],
      [(raw) => (raw[5] as unknown[]).pop(), 'bad key map: lengths differ'],
      [(raw) => ((raw[5] as unknown[])[0] = 'text'), 'bad key map: value 0'],
      [(raw) => (raw[6] as unknown[]).reverse(), 'bad session row: lastIndex order'],
      [(raw) => ((raw[6] as unknown[][])[0]![3] = 99), 'bad session row: seq outside the window'],
      [(raw) => ((raw[6] as unknown[][])[0]![4] = -7), 'bad session row: result'],
      [(raw) => ((raw[6] as unknown[][])[0]![0] = ''), 'bad session row: client'],
    ];
    for (const [edit, message] of cases) expect(snapshotError(edited(edit))).toBe(message);
  });
});
