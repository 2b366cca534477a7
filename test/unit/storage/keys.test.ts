import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  entryIndexOf,
  entryKey,
  entryRange,
  groupIdMax,
  groupIdOf,
  groupSpaceRange,
  groupStartKey,
  hardStateKey,
  identityKey,
  snapshotDataKey,
  snapshotMetaKey,
} from '../../../src/storage/keys.js';

const index = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const group = fc.integer({ min: 0, max: groupIdMax });

describe('key layout', () => {
  it('orders the entries of a group by index in byte order', () => {
    fc.assert(
      fc.property(group, index, index, (g, a, b) => {
        expect(Math.sign(Buffer.compare(entryKey(g, a), entryKey(g, b)))).toBe(Math.sign(a - b));
      }),
    );
  });

  it('puts every entry of a group inside its range and outside every other group range', () => {
    fc.assert(
      fc.property(group, group, index, (g, other, i) => {
        const inRange = (key: Buffer, r: { gte: Buffer; lt: Buffer }) =>
          Buffer.compare(key, r.gte) >= 0 && Buffer.compare(key, r.lt) < 0;
        expect(inRange(entryKey(g, i), entryRange(g))).toBe(true);
        expect(inRange(entryKey(g, i), entryRange(other))).toBe(g === other);
      }),
    );
  });

  it('reads back the index of an entry key, and only of an entry key of that group', () => {
    fc.assert(
      fc.property(group, index, (g, i) => {
        expect(entryIndexOf(g, entryKey(g, i))).toBe(i);
      }),
    );
    expect(entryIndexOf(1, entryKey(2, 5))).toBe(null);
    expect(entryIndexOf(1, hardStateKey(1))).toBe(null);
  });

  it('keeps the group records and the identity apart from the entry range', () => {
    const r = entryRange(7);
    const keys = [identityKey(), hardStateKey(7), snapshotMetaKey(7), snapshotDataKey(7)];
    expect(keys.map((k) => Buffer.compare(k, r.gte) >= 0 && Buffer.compare(k, r.lt) < 0)).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(new Set(keys.map((k) => k.toString('hex'))).size).toBe(4);
    expect(entryKey(1, 2 ** 32 + 3).toString('hex')).toBe('0200000001040000000100000003');
  });

  it('refuses group ids and indexes the layout cannot hold', () => {
    expect(() => entryKey(1, -1)).toThrow(
      new RangeError('entry index -1 is not a non-negative safe integer'),
    );
    expect(() => entryKey(1, 1.5)).toThrow(
      new RangeError('entry index 1.5 is not a non-negative safe integer'),
    );
    expect(() => hardStateKey(2 ** 32)).toThrow(
      new RangeError('group id 4294967296 is not an integer in 0..4294967295'),
    );
  });

  it("puts every record of a group between its start key and the next group's, inside the group space", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: groupIdMax - 1 }), index, (g, i) => {
        const space = groupSpaceRange();
        for (const key of [hardStateKey(g), snapshotMetaKey(g), snapshotDataKey(g), entryKey(g, i)]) {
          expect(Buffer.compare(groupStartKey(g), key)).toBeLessThan(0);
          expect(Buffer.compare(key, groupStartKey(g + 1))).toBeLessThan(0);
          expect(Buffer.compare(space.gte, key) <= 0 && Buffer.compare(key, space.lt) < 0).toBe(true);
          expect(groupIdOf(key)).toBe(g);
        }
      }),
    );
    expect(groupIdOf(identityKey())).toBe(null);
  });
});
