/**
 * A replica's change history for watchers: replay after an index, bounds by count, bytes and
 * age with the floor moving past what was dropped (a cursor below it is compacted, never a
 * silent gap), reset by a snapshot, and the cursor that names a position in every shard.
 */

import { describe, expect, it } from 'vitest';
import { KVStateMachine } from '../../../src/kv/index.js';
import { ChangeHistory } from '../../../src/node/change-history.js';
import { ShardHistories } from '../../../src/node/shard-histories.js';
import { decodeCursor, encodeCursor } from '../../../src/protocol/index.js';
import { TestLog } from '../kv/kv-helpers.js';

const put = (index: number, key = `k${index}`) => ({
  type: 'put' as const,
  key,
  value: new Uint8Array([index]),
  index,
});
const roomy = { events: 1_000, bytes: 1 << 20, ageMs: 60_000 };

describe('ChangeHistory', () => {
  it('replays the changes after an index, in order, and tells subscribers of new ones', () => {
    const h = new ChangeHistory(roomy, () => 0);
    for (const i of [2, 3, 5, 8]) h.append(put(i));
    expect((h.since(0) as readonly { index: number }[]).map((c) => c.index)).toEqual([2, 3, 5, 8]);
    expect((h.since(3) as readonly { index: number }[]).map((c) => c.index)).toEqual([5, 8]);
    expect((h.since(4) as readonly { index: number }[]).map((c) => c.index)).toEqual([5, 8]);
    expect(h.since(8)).toEqual([]);
    const heard: number[] = [];
    const stop = h.subscribe(
      (c) => heard.push(c.index),
      () => undefined,
    );
    h.append(put(9));
    stop();
    h.append(put(10));
    expect(heard).toEqual([9]);
  });

  it('drops the oldest past its count, moving the floor: a cursor below it is compacted', () => {
    const h = new ChangeHistory({ ...roomy, events: 3 }, () => 0);
    for (const i of [1, 2, 3, 4, 5]) h.append(put(i));
    expect(h.size).toBe(3);
    expect(h.floor).toBe(2);
    expect(h.since(1)).toBe('compacted');
    expect((h.since(2) as readonly { index: number }[]).map((c) => c.index)).toEqual([3, 4, 5]);
  });

  it('drops changes past its byte bound and its age', () => {
    let now = 0;
    const h = new ChangeHistory({ events: 1_000, bytes: 200, ageMs: 1_000 }, () => now);
    h.append({ type: 'put', key: 'a', value: new Uint8Array(150), index: 1 });
    h.append({ type: 'put', key: 'b', value: new Uint8Array(10), index: 2 });
    expect(h.floor).toBe(1);
    now = 500;
    h.append(put(3));
    now = 1_200;
    expect(h.since(2)).toEqual([expect.objectContaining({ index: 3 })]);
    now = 1_600;
    expect(h.since(2)).toBe('compacted');
    expect(h.floor).toBe(3);
  });

  it('is reset by a snapshot: only what comes after its index is known, and followers are told', () => {
    const h = new ChangeHistory(roomy, () => 0);
    for (const i of [1, 2, 3]) h.append(put(i));
    const heard: number[] = [];
    const told: string[] = [];
    h.subscribe(
      (c) => heard.push(c.index),
      (why) => told.push(why),
    );
    h.reset(10);
    h.append(put(11));
    expect(told).toEqual(['the replica here installed a snapshot at index 10']);
    expect(heard).toEqual([]);
    expect(h.since(3)).toBe('compacted');
    expect(h.since(10)).toEqual([expect.objectContaining({ index: 11 })]);
  });
});

describe('ShardHistories', () => {
  it("records what a shard's machine applies, and a machine from a snapshot moves the floor", () => {
    const histories = new ShardHistories({ events: 100, ageMs: 60_000 }, () => 0);
    const factory = histories.machineFor(1);
    const m = factory.empty();
    const log = new TestLog(m);
    log.put('a', 'one');
    log.put('b', 'two');
    log.del('a');
    log.put('b', 'three', { ifMatch: '999' });
    log.del('zz');
    const changes = histories.of(1).since(0) as readonly { type: string; key: string; index: number }[];
    expect(changes.map((c) => [c.type, c.key])).toEqual([
      ['put', 'a'],
      ['put', 'b'],
      ['delete', 'a'],
    ]);
    const restored = factory.restore(m.snapshot());
    expect(restored).toBeInstanceOf(KVStateMachine);
    expect(histories.of(1).floor).toBe(m.appliedIndex);
    expect(histories.of(1).since(0)).toBe('compacted');
  });
});

describe('watch cursor', () => {
  it('round-trips and refuses what is not a cursor of this cluster', () => {
    const text = encodeCursor('c1', [0, 35, 1_000_000]);
    expect(decodeCursor(text, 'c1', 3)).toMatchObject({ ok: true, indexes: [0, 35, 1_000_000] });
    expect(decodeCursor(text, 'c2', 3)).toEqual({
      ok: false,
      problem: 'the cursor belongs to another cluster',
    });
    expect(decodeCursor(text, 'c1', 2)).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/3 shards/),
    });
    for (const bad of [
      '',
      'x',
      'abcdefgh',
      `${text.split('.')[0]}.-1.2.3`,
      `${text}.`,
      `${text}~0`,
      `${text}~`,
    ])
      expect(decodeCursor(bad, 'c1', 3).ok, bad).toBe(false);
  });

  it('names a position inside an entry of several changes (a lease revoke): index~seen', () => {
    const text = encodeCursor('c1', [{ index: 40, seen: 2 }, 7, { index: 9, seen: null }]);
    expect(text.split('.').slice(1)).toEqual(['14~2', '7', '9']);
    expect(decodeCursor(text, 'c1', 3)).toEqual({
      ok: true,
      indexes: [40, 7, 9],
      positions: [
        { index: 40, seen: 2 },
        { index: 7, seen: null },
        { index: 9, seen: null },
      ],
    });
  });
});

describe('an entry of several changes', () => {
  const del = (index: number, key: string) => ({ type: 'delete' as const, key, value: null, index });

  it('resumes inside it: the changes of that index past the first `seen`, then the later ones', () => {
    const h = new ChangeHistory(roomy, () => 0);
    h.append(put(3));
    for (const key of ['a', 'b', 'c']) h.append(del(5, key));
    h.append(put(6));
    const keys = (r: ReturnType<ChangeHistory['since']>) => (r === 'compacted' ? r : r.map((c) => c.key));
    expect(keys(h.since(5, 1))).toEqual(['b', 'c', 'k6']);
    expect(keys(h.since(5, 3))).toEqual(['k6']);
    expect(keys(h.since(5))).toEqual(['k6']);
    expect(keys(h.since(4))).toEqual(['a', 'b', 'c', 'k6']);
  });

  it('is dropped whole: the floor never falls inside it', () => {
    const h = new ChangeHistory({ ...roomy, events: 3 }, () => 0);
    h.append(put(3));
    for (const key of ['a', 'b', 'c']) h.append(del(5, key));
    // Four changes, three kept at most: index 3 goes; then index 5 goes whole with the next one.
    expect(h.floor).toBe(3);
    h.append(put(6));
    expect(h.floor).toBe(5);
    expect(h.size).toBe(1);
    expect(h.since(5, 1)).toBe('compacted');
    expect(h.since(4)).toBe('compacted');
    expect(h.since(5)).toEqual([expect.objectContaining({ index: 6 })]);
  });
});
