/**
 * The sorted index of the state machine's keys, for listing by prefix without sorting the map.
 * A list of sorted chunks (the shape of Python's sortedcontainers): an insert or delete costs two
 * binary searches and a splice within one chunk of at most `chunkKeysMax` keys. It holds key
 * strings only; the values stay in the state machine's map.
 */
import { codePointRank } from './keys.js';

const chunkKeysMax = 512;
const chunkKeysMin = 64;
const astralOrHigh = /[\ud800-\uffff]/;

/**
 * A set of well-formed strings kept in `compareKeys` order. Internally each key is stored as a
 * sort key whose code-unit order (JavaScript's `<`) is the keys' code point order; for keys
 * without code units at or above U+D800 the sort key is the key itself.
 */
export class SortedKeys {
  // Invariant: no chunk is empty; each chunk is strictly ascending; every sort key of chunk i is
  // below every sort key of chunk i + 1; #maxes[i] is the last sort key of #chunks[i].
  #chunks: string[][] = [];
  #maxes: string[] = [];
  #size = 0;

  /** Builds the index from keys already strictly ascending in `compareKeys` order; null if they are not. */
  static fromSorted(keys: readonly string[]): SortedKeys | null {
    const index = new SortedKeys();
    let prev: string | null = null;
    let chunk: string[] = [];
    for (const key of keys) {
      const sk = toSortKey(key);
      if (prev !== null && !(prev < sk)) return null;
      prev = sk;
      chunk.push(sk);
      if (chunk.length === chunkKeysMax / 2) {
        index.#pushChunk(chunk);
        chunk = [];
      }
    }
    if (chunk.length > 0) index.#pushChunk(chunk);
    index.#size = keys.length;
    return index;
  }

  /** The number of keys. */
  get size(): number {
    return this.#size;
  }

  /** True if `key` is in the set. */
  has(key: string): boolean {
    const sk = toSortKey(key);
    const c = lowerBound(this.#maxes, sk);
    const chunk = this.#chunks[c];
    return chunk !== undefined && chunk[lowerBound(chunk, sk)] === sk;
  }

  /** Adds `key`; returns false, changing nothing, if it was already present. */
  insert(key: string): boolean {
    const sk = toSortKey(key);
    if (this.#chunks.length === 0) {
      this.#pushChunk([sk]);
      this.#size = 1;
      return true;
    }
    const c = Math.min(lowerBound(this.#maxes, sk), this.#chunks.length - 1);
    const chunk = this.#chunks[c]!;
    const at = lowerBound(chunk, sk);
    if (chunk[at] === sk) return false;
    chunk.splice(at, 0, sk);
    if (at === chunk.length - 1) this.#maxes[c] = sk;
    this.#size++;
    if (chunk.length > chunkKeysMax) this.#split(c);
    return true;
  }

  /** Removes `key`; returns false, changing nothing, if it was absent. */
  delete(key: string): boolean {
    const sk = toSortKey(key);
    const c = lowerBound(this.#maxes, sk);
    const chunk = this.#chunks[c];
    if (chunk === undefined) return false;
    const at = lowerBound(chunk, sk);
    if (chunk[at] !== sk) return false;
    chunk.splice(at, 1);
    this.#size--;
    if (chunk.length === 0) {
      this.#chunks.splice(c, 1);
      this.#maxes.splice(c, 1);
      return true;
    }
    if (at === chunk.length) this.#maxes[c] = chunk[at - 1]!;
    if (chunk.length < chunkKeysMin && this.#chunks.length > 1) this.#merge(c === 0 ? 0 : c - 1);
    return true;
  }

  /**
   * The keys from `start` on, ascending: those at or after it, or only those after it when
   * `exclusive`. The set must not change while the iterator is in use.
   */
  *from(start: string, exclusive: boolean): Generator<string, void, undefined> {
    const sk = toSortKey(start);
    let c = lowerBound(this.#maxes, sk);
    const first = this.#chunks[c];
    if (first === undefined) return;
    let at = lowerBound(first, sk);
    if (exclusive && first[at] === sk) at++;
    for (; c < this.#chunks.length; c++, at = 0) {
      const chunk = this.#chunks[c]!;
      for (; at < chunk.length; at++) yield fromSortKey(chunk[at]!);
    }
  }

  #pushChunk(chunk: string[]): void {
    this.#chunks.push(chunk);
    this.#maxes.push(chunk[chunk.length - 1]!);
  }

  #split(c: number): void {
    const chunk = this.#chunks[c]!;
    const tail = chunk.splice(chunk.length >> 1);
    this.#chunks.splice(c + 1, 0, tail);
    this.#maxes.splice(c, 1, chunk[chunk.length - 1]!, tail[tail.length - 1]!);
  }

  /** Joins chunk c + 1 into chunk c, then splits the result again if it grew too large. */
  #merge(c: number): void {
    const left = this.#chunks[c]!;
    const right = this.#chunks[c + 1]!;
    for (const sk of right) left.push(sk);
    this.#chunks.splice(c + 1, 1);
    this.#maxes.splice(c, 2, left[left.length - 1]!);
    if (left.length > chunkKeysMax) this.#split(c);
  }
}

/** The first position in ascending `xs` whose element is not below `x` (xs.length if none). */
function lowerBound(xs: readonly string[], x: string): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function toSortKey(key: string): string {
  if (!astralOrHigh.test(key)) return key;
  let out = '';
  for (let i = 0; i < key.length; i++) out += String.fromCharCode(codePointRank(key.charCodeAt(i)));
  return out;
}

function fromSortKey(sk: string): string {
  if (!astralOrHigh.test(sk)) return sk;
  let out = '';
  for (let i = 0; i < sk.length; i++) {
    const rank = sk.charCodeAt(i);
    out += String.fromCharCode(rank >= 0xf800 ? rank - 0x2000 : rank >= 0xd800 ? rank + 0x800 : rank);
  }
  return out;
}
