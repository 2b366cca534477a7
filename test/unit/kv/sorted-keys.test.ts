import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareKeys } from '../../../src/kv/keys.js';
import { SortedKeys } from '../../../src/kv/sorted-keys.js';

function all(index: SortedKeys): string[] {
  return [...index.from('', false)];
}

describe('SortedKeys', () => {
  it('keeps keys in code point order across chunk splits and merges', () => {
    const index = new SortedKeys();
    const n = 5000;
    // A fixed permutation of 0..n-1 (7919 is prime, so coprime with n).
    const keys = Array.from({ length: n }, (_, i) => `k${(i * 7919) % n}`);
    for (const key of keys) expect(index.insert(key)).toBe(true);
    expect(index.insert('k17')).toBe(false);
    expect(index.size).toBe(n);
    expect(all(index)).toEqual([...keys].sort(compareKeys));
    for (let i = 0; i < n; i += 3) expect(index.delete(`k${i}`)).toBe(true);
    expect(index.delete('k0')).toBe(false);
    expect(index.delete('absent')).toBe(false);
    const left = keys.filter((k) => Number(k.slice(1)) % 3 !== 0).sort(compareKeys);
    expect(all(index)).toEqual(left);
    expect(index.size).toBe(left.length);
    expect(index.has('k1')).toBe(true);
    expect(index.has('k3')).toBe(false);
    for (const key of left) index.delete(key);
    expect(index.size).toBe(0);
    expect(all(index)).toEqual([]);
  });

  it('starts iteration at, or strictly after, a bound that need not be a key', () => {
    const index = new SortedKeys();
    for (const key of ['b', 'd', '😀', '\uFFFD', 'f']) index.insert(key);
    expect([...index.from('d', false)]).toEqual(['d', 'f', '\uFFFD', '😀']);
    expect([...index.from('d', true)]).toEqual(['f', '\uFFFD', '😀']);
    expect([...index.from('c', true)]).toEqual(['d', 'f', '\uFFFD', '😀']);
    expect([...index.from('\uFFFD', true)]).toEqual(['😀']);
    expect([...index.from('😀', true)]).toEqual([]);
    expect([...index.from('z', false)]).toEqual(['\uFFFD', '😀']);
    expect([...index.from('', false)]).toEqual(['b', 'd', 'f', '\uFFFD', '😀']);
  });

  it('builds from sorted keys and refuses unsorted or repeated ones', () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `key-${String(i).padStart(4, '0')}`);
    const index = SortedKeys.fromSorted(keys)!;
    expect(index.size).toBe(1000);
    expect(all(index)).toEqual(keys);
    expect(index.insert('key-0500x')).toBe(true);
    expect([...index.from('key-0500', true)].slice(0, 2)).toEqual(['key-0500x', 'key-0501']);
    expect(SortedKeys.fromSorted(['a', 'c', 'b'])).toBe(null);
    expect(SortedKeys.fromSorted(['a', 'a'])).toBe(null);
    expect(SortedKeys.fromSorted(['\uFFFD', '😀'])?.size).toBe(2);
    expect(SortedKeys.fromSorted(['😀', '\uFFFD'])).toBe(null);
  });

  it('matches a sorted array under any sequence of inserts and deletes', () => {
    const key = fc.string({
      unit: fc.constantFrom('a', 'b', 'é', '\uFFFD', '😀'),
      minLength: 1,
      maxLength: 4,
    });
    const op = fc.tuple(fc.boolean(), key);
    fc.assert(
      fc.property(fc.array(op, { maxLength: 3000 }), key, fc.boolean(), (ops, start, exclusive) => {
        const index = new SortedKeys();
        const model = new Set<string>();
        for (const [insert, k] of ops) {
          if (insert) expect(index.insert(k)).toBe(!model.has(k));
          else expect(index.delete(k)).toBe(model.has(k));
          if (insert) model.add(k);
          else model.delete(k);
        }
        const sorted = [...model].sort(compareKeys);
        expect(all(index)).toEqual(sorted);
        expect(index.size).toBe(model.size);
        const tail = sorted.filter((k) =>
          exclusive ? compareKeys(k, start) > 0 : compareKeys(k, start) >= 0,
        );
        expect([...index.from(start, exclusive)]).toEqual(tail);
      }),
      { numRuns: 200 },
    );
  });
});
