/**
 * The watch checker on small made-up histories: what watchers of a correct cluster see passes;
 * what a node announcing writes at proposal time would show (a failed cas announced, an index
 * announced twice with different writes, a follower's watcher missing what it applied), repeated
 * events after a resume, and a 410 for a cursor within the history kept are each reported.
 */

import { describe, expect, it } from 'vitest';
import type { Operation } from './history.js';
import { checkWatches } from './watch-checker.js';
import type { Compaction, WatchRecord } from './watchers.js';

let id = 0;
const op = (
  key: string,
  o: Partial<Operation> & Pick<Operation, 'op' | 'outcome' | 'output'>,
): Operation => ({
  id: id++,
  client: 0,
  key,
  call: id,
  ret: o.outcome === 'info' ? Number.POSITIVE_INFINITY : id + 1,
  ...o,
});
const write = (key: string, value: string, version: string) =>
  op(key, { op: { f: 'write', value }, outcome: 'ok', output: { kind: 'written', version } });
const failedCas = (key: string, value: string) =>
  op(key, { op: { f: 'cas', expect: '1', value }, outcome: 'ok', output: { kind: 'preconditionFailed' } });
const del = (key: string) => op(key, { op: { f: 'delete' }, outcome: 'ok', output: { kind: 'deleted' } });

const shardOf = (key: string) => (key === 'a' || key === 'b' ? 0 : 1);
const ev = (
  watcher: number,
  type: 'put' | 'delete',
  key: string,
  value: string | null,
  index: number,
  segment = 0,
): WatchRecord => ({
  watcher,
  segment,
  type,
  key,
  value,
  shard: shardOf(key),
  index,
  at: index,
});

const history = [
  write('a', 'a1', '2'),
  write('b', 'b1', '3'),
  write('a', 'a2', '4'),
  del('b'),
  write('c', 'c1', '2'),
];
const right = (w: number) => [
  ev(w, 'put', 'a', 'a1', 2),
  ev(w, 'put', 'b', 'b1', 3),
  ev(w, 'put', 'a', 'a2', 4),
  ev(w, 'delete', 'b', null, 5),
  ev(w, 'put', 'c', 'c1', 2),
];

describe('the watch checker', () => {
  it('passes what watchers of a correct cluster see', () => {
    const v = checkWatches(history, [...right(0), ...right(1)], [], 2, shardOf);
    expect(v.problems).toEqual([]);
    expect([v.events, v.segments]).toEqual([10, 2]);
  });

  it('reports a write announced although its condition failed', () => {
    const h = [...history, failedCas('a', 'a3')];
    const v = checkWatches(h, [...right(0), ev(0, 'put', 'a', 'a3', 6)], [], 1, shardOf);
    expect(v.problems).toEqual([
      'taken effect: watcher 0 put a=a3 at shard 0 index 6: no write that took effect made it',
    ]);
  });

  it('reports two watchers told different writes at one index, and a watcher that missed one', () => {
    const lost = op('a', { op: { f: 'write', value: 'lost' }, outcome: 'info', output: null });
    const v = checkWatches(
      [...history, lost],
      [...right(0), ev(1, 'put', 'a', 'lost', 4), ev(1, 'delete', 'b', null, 5), ev(1, 'put', 'a', 'a1', 2)],
      [],
      2,
      shardOf,
    );
    expect(v.problems.some((p) => p.startsWith('agreement: watcher 1 put a=lost at shard 0 index 4'))).toBe(
      true,
    );
    expect(
      v.problems.some((p) => p.startsWith('order: watcher 1 put a=a1 at shard 0 index 2 came after index 5')),
    ).toBe(true);
    expect(
      v.problems.some((p) =>
        p.startsWith('no gap: watcher/segment 1/0 saw shard 0 from 2 to 5 but not b written at 3'),
      ),
    ).toBe(true);
  });

  it('reports an event repeated after a resume', () => {
    const v = checkWatches(history, [...right(0), ev(0, 'put', 'a', 'a2', 4)], [], 1, shardOf);
    expect(v.problems).toEqual(['order: watcher 0 put a=a2 at shard 0 index 4 came after index 5']);
  });

  it('reports a 410 for a cursor the history still covered', () => {
    const honest: Compaction = {
      watcher: 0,
      segment: 0,
      cursor: null,
      at: 9,
      message: 'the cursor is at index 5 of shard 0, older than the changes it keeps (after index 8): read…',
    };
    const wrong: Compaction = {
      ...honest,
      message: 'the cursor is at index 5 of shard 0, older than the changes it keeps (after index 3): read…',
    };
    expect(checkWatches(history, right(0), [honest], 1, shardOf).problems).toEqual([]);
    expect(checkWatches(history, right(0), [wrong], 1, shardOf).problems).toEqual([
      '410: watcher 0: refused at index 5 of shard 0, yet kept after 3',
    ]);
  });
});
