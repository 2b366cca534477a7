import { describe, expect, it } from 'vitest';
import { defaultSessionLimits, type SessionLimits, SessionTable } from '../../../src/kv/sessions.js';
import { KVStateMachine } from '../../../src/kv/state-machine.js';
import { putCmd, TestLog } from './kv-helpers.js';

const s = (client: string, seq: number) => ({ session: { client, seq } });
const expired = { ok: false, code: 'session_expired' };

function logWith(limits: Partial<SessionLimits> = {}): TestLog {
  return new TestLog(new KVStateMachine({ ...defaultSessionLimits, ...limits }));
}

describe('exactly-once retries', () => {
  it('a retried put is not applied again and gets its first result', () => {
    const log = logWith();
    expect(log.put('k', 'one', s('c1', 1))).toEqual({ ok: true, op: 'put', version: '1' });
    log.put('k', 'other');
    expect(log.put('k', 'one', s('c1', 1))).toEqual({ ok: true, op: 'put', version: '1' });
    expect(log.value('k')).toBe('other');
    expect(log.kv.get('k')?.version).toBe('2');
    expect(log.kv.appliedIndex).toBe(3);
  });

  it('a retried failure gets the same failure, even when it would now succeed', () => {
    const log = logWith();
    expect(log.put('k', 'x', { ...s('c1', 1), ifMatch: '9' })).toEqual({
      ok: false,
      code: 'precondition_failed',
    });
    expect(log.del('k', s('c1', 2))).toEqual({ ok: false, code: 'not_found' });
    log.put('k', 'v');
    expect(log.put('k', 'x', { ...s('c1', 1), ifMatch: '9' })).toEqual({
      ok: false,
      code: 'precondition_failed',
    });
    expect(log.del('k', s('c1', 2))).toEqual({ ok: false, code: 'not_found' });
    expect(log.value('k')).toBe('v');
  });

  it('a retried delete does not delete the re-created key', () => {
    const log = logWith();
    log.put('k', 'v');
    expect(log.del('k', s('c1', 1))).toEqual({ ok: true, op: 'delete' });
    log.put('k', 'again');
    expect(log.del('k', s('c1', 1))).toEqual({ ok: true, op: 'delete' });
    expect(log.value('k')).toBe('again');
  });

  it('clients are independent; sessionless writes apply every time', () => {
    const log = logWith();
    log.put('a', '1', s('c1', 1));
    expect(log.put('b', '1', s('c2', 1))).toEqual({ ok: true, op: 'put', version: '2' });
    log.put('n', 'x');
    expect(log.put('n', 'x')).toEqual({ ok: true, op: 'put', version: '4' });
    expect(log.kv.sessionCount).toBe(2);
  });

  it('seqs in flight together may arrive in any order within the window', () => {
    const log = logWith({ seqWindow: 4 });
    expect(log.put('k', 's3', s('c', 3))).toEqual({ ok: true, op: 'put', version: '1' });
    expect(log.put('k', 's1', s('c', 1))).toEqual({ ok: true, op: 'put', version: '2' });
    expect(log.put('k', 's4', s('c', 4))).toEqual({ ok: true, op: 'put', version: '3' });
    expect(log.put('k', 's2', s('c', 2))).toEqual({ ok: true, op: 'put', version: '4' });
    expect(log.value('k')).toBe('s2');
    for (const [seq, version] of [
      [1, '2'],
      [2, '4'],
      [3, '1'],
      [4, '3'],
    ] as const) {
      expect(log.put('k', 'retry', s('c', seq))).toEqual({ ok: true, op: 'put', version });
    }
    expect(log.value('k')).toBe('s2');
  });

  it('a seq below the window that was never applied is still applied while in the window', () => {
    const log = logWith({ seqWindow: 4 });
    log.put('k', 's5', s('c', 4));
    log.put('k', 's6', s('c', 6));
    expect(log.put('k', 's3', s('c', 3))).toEqual({ ok: true, op: 'put', version: '3' });
    expect(log.put('k', 's2', s('c', 2))).toEqual({ ok: false, code: 'session_expired' });
    expect(log.value('k')).toBe('s3');
  });
});

describe('expired seqs', () => {
  it('a seq older than the window is refused, never applied twice', () => {
    const log = logWith({ seqWindow: 4 });
    for (let seq = 1; seq <= 10; seq++) log.put('k', `s${seq}`, s('c', seq));
    expect(log.put('k', 'retry', s('c', 6))).toEqual(expired);
    expect(log.put('k', 'retry', s('c', 7))).toEqual({ ok: true, op: 'put', version: '7' });
    expect(log.value('k')).toBe('s10');
    expect(log.put('k', 'retry', s('c', 1))).toEqual(expired);
    expect(log.value('k')).toBe('s10');
  });

  it('a jump ahead moves the window past unapplied seqs', () => {
    const log = logWith({ seqWindow: 4 });
    log.put('k', 's1', s('c', 1));
    log.put('k', 's100', s('c', 100));
    expect(log.put('k', 's96', s('c', 96))).toEqual(expired);
    expect(log.put('k', 's97', s('c', 97))).toEqual({ ok: true, op: 'put', version: '4' });
    expect(log.put('k', 's1', s('c', 1))).toEqual(expired);
  });

  it('an unknown client may begin only within its first window', () => {
    const log = logWith({ seqWindow: 4 });
    expect(log.put('k', 'x', s('late', 5))).toEqual(expired);
    expect(log.kv.get('k')).toBe(null);
    expect(log.kv.sessionCount).toBe(0);
    expect(log.put('k', 'x', s('fresh', 4))).toEqual({ ok: true, op: 'put', version: '2' });
  });
});

describe('forgetting clients, by log index', () => {
  it('past clientsMax the least recently seen client is forgotten', () => {
    const log = logWith({ clientsMax: 2, seqWindow: 4 });
    log.put('a', '1', s('c1', 1));
    log.put('b', '1', s('c2', 1));
    log.put('b', '2', s('c2', 6));
    log.put('a', '1', s('c1', 1));
    log.put('c', '1', s('c3', 1));
    expect(log.kv.sessionCount).toBe(2);
    expect(log.put('a', 'x', s('c1', 1))).toEqual({ ok: true, op: 'put', version: '1' });
    expect(log.put('b', 'x', s('c2', 6))).toEqual(expired);
    expect(log.value('b')).toBe('2');
    // The documented limit: a forgotten client's seq within its first window starts a new session.
    expect(log.put('b', 'x', s('c2', 1))).toEqual({ ok: true, op: 'put', version: '8' });
    expect(log.kv.sessionCount).toBe(2);
    expect(log.put('c', 'y', s('c3', 2))).toEqual({ ok: true, op: 'put', version: '9' });
    expect(log.put('a', 'y', s('c1', 1))).toEqual({ ok: true, op: 'put', version: '10' });
  });

  it('a client not seen for idleEntriesMax entries is forgotten', () => {
    const log = logWith({ idleEntriesMax: 10, seqWindow: 4 });
    log.put('a', '1', s('c1', 1));
    log.put('a', '2', s('c1', 6));
    for (let i = 0; i < 9; i++) log.noop();
    expect(log.kv.appliedIndex).toBe(11);
    expect(log.kv.sessionCount).toBe(1);
    log.noop();
    expect(log.kv.sessionCount).toBe(0);
    expect(log.put('a', 'x', s('c1', 6))).toEqual(expired);
    expect(log.value('a')).toBe('2');
  });

  it('expiry happens at the first entry past the limit, even across an index gap', () => {
    const table = new SessionTable({ seqWindow: 4, clientsMax: 10, idleEntriesMax: 10 });
    const write = () => ({ ok: true, op: 'delete' }) as const;
    table.once({ client: 'a', seq: 1 }, 1, write);
    table.once({ client: 'b', seq: 1 }, 5, write);
    table.expire(10);
    expect(table.rows().map((r) => r[0])).toEqual(['a', 'b']);
    table.expire(14);
    expect(table.rows().map((r) => r[0])).toEqual(['b']);
    table.expire(100);
    expect(table.size).toBe(0);
  });

  it('keeps per client only the results inside the window', () => {
    const table = new SessionTable({ seqWindow: 3, clientsMax: 10, idleEntriesMax: 100 });
    let index = 0;
    const put = (seq: number) =>
      table.once({ client: 'c', seq }, ++index, () => ({ ok: true, op: 'put', version: String(index) }));
    for (const seq of [1, 2, 3, 4, 5, 9, 8]) put(seq);
    expect(table.rows()).toEqual([['c', 7, 9, 9, 6, 8, 7]]);
  });

  it('two replicas fed the same log remember and forget the same clients', () => {
    const limits = { seqWindow: 8, clientsMax: 50, idleEntriesMax: 400 };
    const a = new KVStateMachine(limits);
    const b = new KVStateMachine(limits);
    let x = 12345;
    const next = () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x;
    };
    const resultsA: unknown[] = [];
    const resultsB: unknown[] = [];
    for (let index = 1; index <= 3000; index++) {
      const r = next();
      if (r % 7 === 0) {
        a.applyNoop(index);
        b.applyNoop(index);
        continue;
      }
      const session = { client: `c${r % 120}`, seq: 1 + (next() % 12) };
      const data = putCmd(`k${next() % 30}`, String(index), { session });
      resultsA.push(a.apply(index, data));
      resultsB.push(b.apply(index, data));
    }
    expect(resultsA).toEqual(resultsB);
    expect(resultsA.filter((r) => JSON.stringify(r) === JSON.stringify(expired)).length).toBe(592);
    expect(a.sessionCount).toBe(50);
    expect(a.digest()).toBe(b.digest());
  });
});

describe('SessionTable limits', () => {
  it('refuses limits below 1', () => {
    expect(() => new SessionTable({ seqWindow: 0, clientsMax: 1, idleEntriesMax: 1 })).toThrow(RangeError);
    expect(() => new KVStateMachine({ seqWindow: 1, clientsMax: 1.5, idleEntriesMax: 1 })).toThrow(
      RangeError,
    );
    expect(() => new KVStateMachine({ seqWindow: 4 } as SessionLimits)).toThrow(
      'session limit clientsMax must be ≥ 1',
    );
  });
});
