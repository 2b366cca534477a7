import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HashRing, hash53, placeShards } from '../../../src/shard/index.js';

const keys = Array.from({ length: 100_000 }, (_, i) => `user:${i}:${(i * 2_654_435_761) % 1_000_003}`);

describe('consistent-hash ring', () => {
  it.each([3, 8, 32])(
    'with %i shards every shard holds within 10 percent of the mean of 100,000 keys',
    (shards) => {
      const ring = new HashRing(shards);
      const counts = new Array<number>(shards).fill(0);
      for (const k of keys) counts[ring.shardOf(k)]!++;
      const mean = keys.length / shards;
      const worst = Math.max(...counts.map((c) => Math.abs(c - mean) / mean));
      expect(worst).toBeLessThan(0.1);
    },
  );

  it.each([3, 8, 32])(
    'adding a shard to %i moves at most 1/(shards+1) of the keys plus 2 percent',
    (shards) => {
      const before = new HashRing(shards);
      const after = new HashRing(shards + 1);
      let moved = 0;
      for (const k of keys) {
        const a = before.shardOf(k);
        const b = after.shardOf(k);
        if (a !== b) {
          moved++;
          // A key only ever moves to the new shard.
          expect(b).toBe(shards);
        }
      }
      expect(moved / keys.length).toBeLessThanOrEqual(1 / (shards + 1) + 0.02);
    },
  );

  it('is rebuilt identically from its published spec (what GET /v1/cluster returns)', () => {
    const ring = new HashRing(5);
    const copy = HashRing.fromSpec(JSON.parse(JSON.stringify(ring.spec)));
    for (const k of keys.slice(0, 5_000)) expect(copy.shardOf(k)).toBe(ring.shardOf(k));
  });

  it('routes every string to a valid shard, deterministically', () => {
    const ring = new HashRing(7);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }), (k) => {
        const s = ring.shardOf(k);
        expect(Number.isInteger(s) && s >= 0 && s < 7).toBe(true);
        expect(ring.shardOf(k)).toBe(s);
      }),
    );
  });

  it('hashes into [0, 2^53) as safe integers', () => {
    fc.assert(
      fc.property(fc.string(), (k) => {
        const h = hash53(k);
        expect(Number.isSafeInteger(h) && h >= 0).toBe(true);
      }),
    );
    expect(hash53('greeting')).toBe(hash53('greeting'));
  });

  it('refuses an unknown ring algorithm', () => {
    expect(() => HashRing.fromSpec({ algorithm: 'crc' as 'md5-53', shards: 3, pointsPerShard: 8 })).toThrow(
      'unknown ring algorithm crc',
    );
  });
});

describe('replica placement', () => {
  it.each([
    [3, 3, 3],
    [5, 5, 3],
    [5, 10, 3],
    [9, 9, 3],
    [9, 18, 5],
    [5, 5, 5],
  ])(
    '%i nodes, %i shards, %i replicas: every node carries the same number of replicas and leads as many shards',
    (nodes, shards, replicas) => {
      const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
      const placement = placeShards(ids, shards, replicas);
      const carried = new Map(ids.map((id) => [id, 0]));
      const preferred = new Map(ids.map((id) => [id, 0]));
      for (const members of placement) {
        expect(new Set(members).size).toBe(replicas);
        for (const m of members) carried.set(m, carried.get(m)! + 1);
        preferred.set(members[0]!, preferred.get(members[0]!)! + 1);
      }
      expect(new Set(carried.values())).toEqual(new Set([(shards * replicas) / nodes]));
      expect(new Set(preferred.values())).toEqual(new Set([shards / nodes]));
    },
  );

  it('is the same on every node and in every client: a pure function of the cluster file', () => {
    const ids = ['a', 'b', 'c', 'd'];
    expect(placeShards(ids, 4, 3)).toEqual([
      ['a', 'b', 'c'],
      ['b', 'c', 'd'],
      ['c', 'd', 'a'],
      ['d', 'a', 'b'],
    ]);
  });
});
