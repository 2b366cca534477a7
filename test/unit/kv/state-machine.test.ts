import { describe, expect, it } from 'vitest';
import { KVCommandError, KVInvariantError } from '../../../src/kv/errors.js';
import { KVStateMachine } from '../../../src/kv/state-machine.js';
import { bytes, putCmd, TestLog, text } from './kv-helpers.js';

function listed(kv: KVStateMachine, prefix: string, after: string | null, limit: number) {
  const page = kv.list(prefix, after, limit);
  return { keys: page.items.map((i) => i.key), more: page.more };
}

describe('writes and versions', () => {
  it('a put writes the value, versioned by its log index', () => {
    const log = new TestLog(new KVStateMachine());
    expect(log.put('a', 'one')).toEqual({ ok: true, op: 'put', version: '1' });
    expect(log.kv.get('a')).toEqual({ value: bytes('one'), version: '1' });
    expect(log.put('a', 'two')).toEqual({ ok: true, op: 'put', version: '2' });
    expect(log.kv.get('a')).toEqual({ value: bytes('two'), version: '2' });
    expect(log.kv.get('b')).toBe(null);
    expect(log.kv.size).toBe(1);
    expect(log.kv.appliedIndex).toBe(2);
  });

  it('a delete removes the key; deleting an absent key is not_found', () => {
    const log = new TestLog(new KVStateMachine());
    log.put('a', 'one');
    expect(log.del('a')).toEqual({ ok: true, op: 'delete' });
    expect(log.kv.get('a')).toBe(null);
    expect(log.kv.size).toBe(0);
    expect(log.del('a')).toEqual({ ok: false, code: 'not_found' });
    expect(log.kv.appliedIndex).toBe(3);
  });

  it('a re-created key never reuses a version of its earlier life', () => {
    const log = new TestLog(new KVStateMachine());
    const seen = new Set<string>();
    for (let round = 0; round < 5; round++) {
      const r = log.put('k', `v${round}`);
      if (!r.ok || r.op !== 'put') throw new Error('put failed');
      expect(seen.has(r.version)).toBe(false);
      seen.add(r.version);
      log.del('k');
    }
    expect([...seen]).toEqual(['1', '3', '5', '7', '9']);
  });

  it('versions follow the log index across gaps left by no-ops', () => {
    const log = new TestLog(new KVStateMachine());
    log.noop();
    log.noop();
    expect(log.put('k', 'v')).toEqual({ ok: true, op: 'put', version: '3' });
    expect(log.kv.appliedIndex).toBe(3);
    expect(log.kv.apply(10, putCmd('k', 'w'))).toEqual({ ok: true, op: 'put', version: '10' });
  });
});

describe('conditional writes (If-Match, If-None-Match)', () => {
  it('put with ifMatch writes only over that exact version', () => {
    const log = new TestLog(new KVStateMachine());
    log.put('k', 'one');
    expect(log.put('k', 'two', { ifMatch: '1' })).toEqual({ ok: true, op: 'put', version: '2' });
    expect(log.put('k', 'three', { ifMatch: '1' })).toEqual({ ok: false, code: 'precondition_failed' });
    expect(log.put('k', 'three', { ifMatch: '02' })).toEqual({ ok: false, code: 'precondition_failed' });
    expect(log.value('k')).toBe('two');
    expect(log.put('absent', 'x', { ifMatch: '1' })).toEqual({ ok: false, code: 'precondition_failed' });
    expect(log.kv.get('absent')).toBe(null);
  });

  it('put with ifNoneMatch writes only when the key is absent', () => {
    const log = new TestLog(new KVStateMachine());
    expect(log.put('k', 'one', { ifNoneMatch: true })).toEqual({ ok: true, op: 'put', version: '1' });
    expect(log.put('k', 'two', { ifNoneMatch: true })).toEqual({ ok: false, code: 'precondition_failed' });
    expect(log.value('k')).toBe('one');
    log.del('k');
    expect(log.put('k', 'three', { ifNoneMatch: true })).toEqual({ ok: true, op: 'put', version: '4' });
  });

  it('with both conditions set, both must hold, so the write always fails', () => {
    const log = new TestLog(new KVStateMachine());
    expect(log.put('k', 'one', { ifMatch: '1', ifNoneMatch: true })).toEqual({
      ok: false,
      code: 'precondition_failed',
    });
    log.put('k', 'one');
    expect(log.put('k', 'two', { ifMatch: '2', ifNoneMatch: true })).toEqual({
      ok: false,
      code: 'precondition_failed',
    });
  });

  it('delete with ifMatch deletes only that version; conditions are checked before existence', () => {
    const log = new TestLog(new KVStateMachine());
    log.put('k', 'one');
    expect(log.del('k', { ifMatch: '7' })).toEqual({ ok: false, code: 'precondition_failed' });
    expect(log.value('k')).toBe('one');
    expect(log.del('k', { ifNoneMatch: true })).toEqual({ ok: false, code: 'precondition_failed' });
    expect(log.del('k', { ifMatch: '1' })).toEqual({ ok: true, op: 'delete' });
    expect(log.del('k', { ifMatch: '1' })).toEqual({ ok: false, code: 'precondition_failed' });
    expect(log.del('k', { ifNoneMatch: true })).toEqual({ ok: false, code: 'not_found' });
  });
});

describe('applying in log order', () => {
  it('refuses an index that does not increase, changing nothing', () => {
    const kv = new KVStateMachine();
    kv.apply(5, putCmd('a', '1'));
    expect(() => kv.apply(5, putCmd('a', '2'))).toThrow(KVInvariantError);
    expect(() => kv.apply(4, putCmd('a', '2'))).toThrow('entry 4 applied after entry 5');
    expect(() => kv.applyNoop(5)).toThrow(KVInvariantError);
    expect(() => kv.apply(6.5, putCmd('a', '2'))).toThrow(KVInvariantError);
    expect(() => kv.apply(Number.NaN, putCmd('a', '2'))).toThrow(KVInvariantError);
    expect(kv.appliedIndex).toBe(5);
    expect(text(kv.get('a')!.value)).toBe('1');
  });

  it('throws KVCommandError on a malformed entry without advancing', () => {
    const kv = new KVStateMachine();
    expect(() => kv.apply(1, new Uint8Array([0xc1]))).toThrow(KVCommandError);
    expect(kv.appliedIndex).toBe(0);
    expect(kv.apply(1, putCmd('a', '1'))).toEqual({ ok: true, op: 'put', version: '1' });
  });
});

describe('list', () => {
  function machineWith(keys: string[]): KVStateMachine {
    const log = new TestLog(new KVStateMachine());
    for (const key of keys) log.put(key, `v:${key}`);
    return log.kv;
  }

  it('lists keys with a prefix in order, with values and versions', () => {
    const kv = machineWith(['b/2', 'a/1', 'b/1', 'c', 'b', 'b/10']);
    expect(kv.list('b/', null, 10)).toEqual({
      items: [
        { key: 'b/1', value: bytes('v:b/1'), version: '3' },
        { key: 'b/10', value: bytes('v:b/10'), version: '6' },
        { key: 'b/2', value: bytes('v:b/2'), version: '1' },
      ],
      more: false,
    });
    expect(listed(kv, '', null, 100)).toEqual({ keys: ['a/1', 'b', 'b/1', 'b/10', 'b/2', 'c'], more: false });
    expect(listed(kv, 'x', null, 100)).toEqual({ keys: [], more: false });
  });

  it('pages with limit, more and after', () => {
    const kv = machineWith(['p1', 'p2', 'p3', 'p4', 'p5', 'q1', 'o9']);
    expect(listed(kv, 'p', null, 2)).toEqual({ keys: ['p1', 'p2'], more: true });
    expect(listed(kv, 'p', 'p2', 2)).toEqual({ keys: ['p3', 'p4'], more: true });
    expect(listed(kv, 'p', 'p4', 2)).toEqual({ keys: ['p5'], more: false });
    expect(listed(kv, 'p', 'p3', 2)).toEqual({ keys: ['p4', 'p5'], more: false });
    expect(listed(kv, 'p', 'p5', 2)).toEqual({ keys: [], more: false });
    expect(listed(kv, 'p', 'p25', 1)).toEqual({ keys: ['p3'], more: true });
    expect(listed(kv, 'p', 'a', 10)).toEqual({ keys: ['p1', 'p2', 'p3', 'p4', 'p5'], more: false });
    expect(listed(kv, 'p', 'p', 1)).toEqual({ keys: ['p1'], more: true });
    expect(listed(kv, 'p', 'z', 10)).toEqual({ keys: [], more: false });
    expect(listed(kv, 'p', null, 0)).toEqual({ keys: [], more: true });
    expect(listed(kv, 'z', null, 0)).toEqual({ keys: [], more: false });
    expect(listed(kv, '', 'p5', 10)).toEqual({ keys: ['q1'], more: false });
  });

  it('orders multi-byte keys by UTF-8 bytes, U+FFFD before astral code points', () => {
    const kv = machineWith(['k😀', 'k\uFFFD', 'kz', 'ké', 'k\u{10FFFF}', 'k\uE000', 'k', 'k😀a']);
    expect(listed(kv, 'k', null, 100).keys).toEqual([
      'k',
      'kz',
      'ké',
      'k\uE000',
      'k\uFFFD',
      'k😀',
      'k😀a',
      'k\u{10FFFF}',
    ]);
    expect(listed(kv, 'k😀', null, 100).keys).toEqual(['k😀', 'k😀a']);
    expect(listed(kv, 'k', 'k\uFFFD', 2)).toEqual({ keys: ['k😀', 'k😀a'], more: true });
  });

  it('reflects deletes and overwrites', () => {
    const log = new TestLog(new KVStateMachine());
    log.put('a', '1');
    log.put('b', '1');
    log.put('c', '1');
    log.del('b');
    log.put('a', '2');
    expect(log.kv.list('', null, 10)).toEqual({
      items: [
        { key: 'a', value: bytes('2'), version: '5' },
        { key: 'c', value: bytes('1'), version: '3' },
      ],
      more: false,
    });
  });

  it('refuses ill-formed arguments', () => {
    const kv = new KVStateMachine();
    expect(() => kv.list('\uD800', null, 1)).toThrow(RangeError);
    expect(() => kv.list('', '\uDC00', 1)).toThrow(RangeError);
    expect(() => kv.list('', null, -1)).toThrow(RangeError);
    expect(() => kv.list('', null, 1.5)).toThrow(RangeError);
  });
});
