import { describe, expect, it } from 'vitest';
import { checkHistory } from './checker.js';
import type { Operation, Output } from './history.js';
import { cas, del, op, read, write } from './history-builders.js';

const written = (version: string): Output => ({ kind: 'written', version });
const value = (v: string, version: string): Output => ({ kind: 'value', value: v, version });
const absentOut: Output = { kind: 'absent' };

const verdict = (h: Operation[]) => checkHistory(h)[0]!;

describe('linearizability checker (register per key)', () => {
  it('accepts a sequential history', () => {
    const h = [
      op(1, 0, 1, write('a'), written('1')),
      op(1, 2, 3, read, value('a', '1')),
      op(1, 4, 5, del, { kind: 'deleted' }),
      op(1, 6, 7, read, absentOut),
    ];
    expect(verdict(h)).toEqual({ key: 'k', ok: true, operations: 4, explanation: null, unknown: false });
  });

  it('rejects a stale read: a read after a completed write sees the older value', () => {
    const h = [
      op(1, 0, 1, write('a'), written('1')),
      op(1, 2, 3, write('b'), written('2')),
      op(2, 4, 5, read, value('a', '1')),
    ];
    const v = verdict(h);
    expect(v.ok).toBe(false);
    expect(v.unknown).toBe(false);
    expect(v.explanation).toContain('cannot linearize');
    expect(v.explanation).toContain('read = a@1');
  });

  it('accepts concurrent operations in either order', () => {
    const h = [
      op(1, 0, 10, write('a'), written('1')),
      op(2, 1, 9, write('b'), written('2')),
      op(3, 11, 12, read, value('a', '1')),
    ];
    expect(verdict(h).ok).toBe(true);
  });

  it('rejects two reads that see concurrent writes in opposite orders', () => {
    const h = [
      op(1, 0, 10, write('a'), written('1')),
      op(2, 0, 10, write('b'), written('2')),
      op(3, 11, 12, read, value('a', '1')),
      op(3, 13, 14, read, value('b', '2')),
    ];
    expect(verdict(h).ok).toBe(false);
  });

  it('lets an indeterminate write take effect late, or never', () => {
    const late = [
      op(1, 0, null, write('x'), null),
      op(2, 5, 6, read, absentOut),
      op(2, 7, 8, read, { kind: 'value', value: 'x', version: '7' }),
    ];
    expect(verdict(late).ok).toBe(true);
    const never = [
      op(1, 0, null, write('x'), null),
      op(2, 5, 6, read, absentOut),
      op(2, 7, 8, read, absentOut),
    ];
    expect(verdict(never).ok).toBe(true);
  });

  it('does not let an indeterminate write take effect before it was called', () => {
    const h = [
      op(2, 0, 1, read, { kind: 'value', value: 'x', version: '7' }),
      op(1, 5, null, write('x'), null),
    ];
    expect(verdict(h).ok).toBe(false);
  });

  it('does not let a value come back after it was overwritten (no time travel)', () => {
    const h = [
      op(1, 0, null, write('x'), null),
      op(2, 1, 2, read, value('x', '3')),
      op(2, 3, 4, write('y'), written('4')),
      op(2, 5, 6, read, value('x', '3')),
    ];
    expect(verdict(h).ok).toBe(false);
  });

  it('checks compare-and-set against versions', () => {
    const ok = [
      op(1, 0, 1, write('a'), written('1')),
      op(1, 2, 3, cas('1', 'b'), written('2')),
      op(2, 4, 5, cas('1', 'c'), { kind: 'preconditionFailed' }),
      op(2, 6, 7, read, value('b', '2')),
    ];
    expect(verdict(ok).ok).toBe(true);
    const bad = [
      op(1, 0, 1, write('a'), written('1')),
      op(1, 2, 3, cas('1', 'b'), { kind: 'preconditionFailed' }),
    ];
    expect(verdict(bad).ok).toBe(false);
  });

  it('ignores failed operations (known not applied)', () => {
    const h = [op(1, 0, 1, write('a'), null, 'fail'), op(2, 2, 3, read, absentOut)];
    expect(verdict(h)).toEqual({ key: 'k', ok: true, operations: 1, explanation: null, unknown: false });
  });

  it('rejects a delete of a present key that answers not found', () => {
    const h = [op(1, 0, 1, write('a'), written('1')), op(1, 2, 3, del, absentOut)];
    expect(verdict(h).ok).toBe(false);
  });

  it('checks keys independently and names the bad one', () => {
    const h = [
      op(1, 0, 1, write('a'), written('1'), 'ok', 'good'),
      op(1, 0, 1, write('a'), written('1'), 'ok', 'bad'),
      op(1, 2, 3, read, absentOut, 'ok', 'bad'),
    ];
    const verdicts = checkHistory(h);
    expect(verdicts.map((v) => [v.key, v.ok])).toEqual([
      ['bad', false],
      ['good', true],
    ]);
  });

  it('decides a long concurrent history without exhausting its search budget', () => {
    const h: Operation[] = [];
    let t = 0;
    for (let i = 0; i < 2_000; i++) {
      const c = i % 8;
      h.push(op(c, t, t + 3, write(`v${i}`), written(String(i + 1))));
      h.push(op((c + 1) % 8, t + 1, t + 5, read, value(`v${i}`, String(i + 1))));
      t += 4;
    }
    expect(checkHistory(h, { statesMax: 200_000 })[0]).toEqual({
      key: 'k',
      ok: true,
      operations: 4_000,
      explanation: null,
      unknown: false,
    });
  });

  it('drops indeterminate reads: they changed and observed nothing', () => {
    const h = [
      op(1, 0, 1, write('a'), written('1')),
      op(2, 2, null, read, null),
      op(2, 3, 4, read, value('a', '1')),
    ];
    expect(verdict(h)).toEqual({ key: 'k', ok: true, operations: 2, explanation: null, unknown: false });
  });

  it('does not let a compare-and-set match a value nobody observed', () => {
    // The expected version 1 belonged to "a", which is deleted; "x" took effect unseen, with a
    // version of its own, so the compare-and-set cannot have succeeded.
    const h = [
      op(1, 0, 1, write('a'), written('1')),
      op(1, 2, 3, del, { kind: 'deleted' }),
      op(2, 4, null, write('x'), null),
      op(1, 5, 6, cas('1', 'b'), written('9')),
    ];
    const v = verdict(h);
    expect(v.ok).toBe(false);
    expect(v.explanation).toContain('cas 1→b @9');
  });

  it('rejects one version observed with two values', () => {
    const h = [
      op(1, 0, 1, write('a'), written('5')),
      op(2, 2, null, write('b'), null),
      op(1, 3, 4, read, value('b', '5')),
    ];
    expect(verdict(h).ok).toBe(false);
  });

  it('makes an observed indeterminate write take effect before the read that saw it returned', () => {
    const ok = [
      op(1, 0, null, write('x'), null),
      op(2, 5, 6, read, value('x', '7')),
      op(2, 8, 9, write('y'), written('8')),
      op(2, 10, 11, read, value('y', '8')),
    ];
    expect(verdict(ok).ok).toBe(true);
    // Seen before it was even called: impossible.
    const early = [op(2, 0, 1, read, value('x', '7')), op(1, 2, null, write('x'), null)];
    expect(verdict(early).ok).toBe(false);
  });

  it('decides a long history with many indeterminate writes, observed and not', () => {
    const h: Operation[] = [];
    let t = 0;
    let version = 0;
    for (let i = 0; i < 1_500; i++) {
      const c = i % 8;
      if (i % 5 === 0) {
        // A lost answer; every other one is observed by the next read.
        h.push(op(c, t, null, write(`v${i}`), null));
        if (i % 10 === 0) h.push(op((c + 1) % 8, t + 2, t + 4, read, value(`v${i}`, String(++version))));
      } else {
        h.push(op(c, t, t + 3, write(`v${i}`), written(String(++version))));
        h.push(op((c + 1) % 8, t + 4, t + 5, read, value(`v${i}`, String(version))));
      }
      t += 6;
    }
    expect(checkHistory(h, { statesMax: 200_000 })[0]).toMatchObject({ ok: true, unknown: false });
  });
});
