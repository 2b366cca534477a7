/**
 * What a key is and how keys are ordered. Keys are ordered by their UTF-8 bytes, which for
 * well-formed strings is Unicode code point order; everything that sorts or merges keys (the
 * state machine's index, a list across shards) must use `compareKeys` so all agree.
 */

/** The most bytes a key may take in UTF-8 (README's API: keys are 1–1024 bytes). */
export const keyBytesMax = 1024;

/**
 * The number of bytes `s` takes in UTF-8, or -1 if `s` holds a lone surrogate (it then has no
 * UTF-8 form and is not a valid key, prefix or client id).
 */
export function utf8ByteLength(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit < 0xd800 || unit > 0xdfff) bytes += 3;
    else if (unit <= 0xdbff && i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else return -1;
  }
  return bytes;
}

/** Why `key` is not a valid key, or null if it is one: 1–`keyBytesMax` bytes of well-formed UTF-8. */
export function keyProblem(key: string): string | null {
  const bytes = utf8ByteLength(key);
  if (bytes < 0) return 'key holds a lone surrogate';
  if (bytes === 0) return 'key is empty';
  if (bytes > keyBytesMax) return `key is ${bytes} bytes, over ${keyBytesMax}`;
  return null;
}

/**
 * Orders well-formed strings by code point, which is the order of their UTF-8 bytes. Negative
 * when `a` sorts first, 0 when equal, positive when `b` sorts first. JavaScript's `<` compares
 * UTF-16 code units instead and puts U+E000–U+FFFF after the astral planes; do not use it on keys.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/**
 * A code unit's rank such that comparing ranks at the first differing unit of two well-formed
 * strings compares their code points: surrogates (astral code points) move above U+FFFF.
 */
export function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}
