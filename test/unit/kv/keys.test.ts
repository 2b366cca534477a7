import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareKeys, keyBytesMax, keyProblem, utf8ByteLength } from '../../../src/kv/keys.js';

const wellFormed = fc.string({ unit: 'grapheme-composite', maxLength: 8 });
const anyUnicode = fc.string({ unit: 'binary', maxLength: 8 });

function byteOrder(a: string, b: string): number {
  return Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

describe('utf8ByteLength', () => {
  it('counts the bytes of the UTF-8 form', () => {
    expect(utf8ByteLength('')).toBe(0);
    expect(utf8ByteLength('a')).toBe(1);
    expect(utf8ByteLength('é')).toBe(2);
    expect(utf8ByteLength('€')).toBe(3);
    expect(utf8ByteLength('\uFFFD')).toBe(3);
    expect(utf8ByteLength('😀')).toBe(4);
    fc.assert(fc.property(anyUnicode, (s) => utf8ByteLength(s) === Buffer.byteLength(s, 'utf8')));
  });

  it('is -1 for a lone surrogate', () => {
    expect(utf8ByteLength('\uD83D')).toBe(-1);
    expect(utf8ByteLength('a\uDE00b')).toBe(-1);
    expect(utf8ByteLength('\uDE00\uD83D')).toBe(-1);
  });
});

describe('keyProblem', () => {
  it('accepts 1 to 1024 bytes of well-formed UTF-8', () => {
    expect(keyProblem('a')).toBe(null);
    expect(keyProblem('x'.repeat(keyBytesMax))).toBe(null);
    expect(keyProblem('😀'.repeat(keyBytesMax / 4))).toBe(null);
  });

  it('refuses empty, oversized and ill-formed keys', () => {
    expect(keyProblem('')).toBe('key is empty');
    expect(keyProblem('x'.repeat(keyBytesMax + 1))).toBe('key is 1025 bytes, over 1024');
    expect(keyProblem(`${'😀'.repeat(keyBytesMax / 4)}a`)).toBe('key is 1025 bytes, over 1024');
    expect(keyProblem('a\uD800')).toBe('key holds a lone surrogate');
  });
});

describe('compareKeys', () => {
  it('orders by code point, which is UTF-8 byte order, not by UTF-16 code unit', () => {
    expect('😀' < '\uFFFD').toBe(true);
    expect(Math.sign(compareKeys('😀', '\uFFFD'))).toBe(1);
    expect(Math.sign(compareKeys('\uFFFD', '😀'))).toBe(-1);
    expect(Math.sign(compareKeys('a', 'ab'))).toBe(-1);
    expect(Math.sign(compareKeys('b', 'ab'))).toBe(1);
    expect(compareKeys('é😀', 'é😀')).toBe(0);
    const sorted = ['z', 'a', '😀', '\uFFFD', 'é', '\uE000', '\u{10FFFF}', 'ab'].sort(compareKeys);
    expect(sorted).toEqual(['a', 'ab', 'z', 'é', '\uE000', '\uFFFD', '😀', '\u{10FFFF}']);
  });

  it('agrees with comparing UTF-8 bytes on any well-formed strings', () => {
    fc.assert(
      fc.property(wellFormed, wellFormed, (a, b) => Math.sign(compareKeys(a, b)) === byteOrder(a, b)),
      { numRuns: 2000 },
    );
    const highUnits = fc.string({ unit: fc.constantFrom('a', '\uE000', '\uFFFF', '😀', '\u{10000}', 'é') });
    fc.assert(fc.property(highUnits, highUnits, (a, b) => Math.sign(compareKeys(a, b)) === byteOrder(a, b)));
  });
});
