import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  clientBytesMax,
  commandProblem,
  decodeCommand,
  encodeCommand,
  type KVCommand,
} from '../../../src/kv/commands.js';
import { KVCommandError } from '../../../src/kv/errors.js';
import { bytes } from './kv-helpers.js';

const packr = new Packr({ useRecords: false });
const noCond = { ifMatch: null, ifNoneMatch: false };

const commandArb: fc.Arbitrary<KVCommand> = (() => {
  const key = fc.string({ unit: 'grapheme-composite', minLength: 1, maxLength: 20 });
  const cond = fc.record({ ifMatch: fc.option(fc.string({ maxLength: 12 })), ifNoneMatch: fc.boolean() });
  const session = fc.option(
    fc.record({
      client: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
      seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    }),
  );
  const put = fc.record({
    op: fc.constant('put' as const),
    key,
    value: fc.uint8Array({ maxLength: 64 }),
    cond,
    session,
  });
  const del = fc.record({ op: fc.constant('delete' as const), key, cond, session });
  return fc.oneof(put, del);
})();

function decodeError(data: Uint8Array): string {
  try {
    decodeCommand(data);
  } catch (err) {
    expect(err).toBeInstanceOf(KVCommandError);
    return (err as Error).message;
  }
  throw new Error('decodeCommand accepted malformed data');
}

describe('command codec', () => {
  it('round-trips puts and deletes, with and without conditions and sessions', () => {
    const put: KVCommand = {
      op: 'put',
      key: 'user/é😀',
      value: bytes('hello'),
      cond: { ifMatch: '42', ifNoneMatch: false },
      session: { client: 'c-1', seq: 7 },
    };
    const decoded = decodeCommand(encodeCommand(put));
    expect(decoded).toEqual(put);
    if (decoded.op !== 'put') throw new Error('expected a put');
    expect(decoded.value.constructor).toBe(Uint8Array);
    const del: KVCommand = {
      op: 'delete',
      key: 'k',
      cond: { ifMatch: null, ifNoneMatch: true },
      session: null,
    };
    expect(decodeCommand(encodeCommand(del))).toEqual(del);
  });

  it('is compact: a msgpack array, no field names', () => {
    const put = encodeCommand({ op: 'put', key: 'k', value: bytes('v'), cond: noCond, session: null });
    expect([...put]).toEqual([0x95, 0x01, 0xa1, 0x6b, 0xc4, 0x01, 0x76, 0xc0, 0xc2]);
    const del = encodeCommand({ op: 'delete', key: 'k', cond: noCond, session: { client: 'c', seq: 3 } });
    expect([...del]).toEqual([0x96, 0x02, 0xa1, 0x6b, 0xc0, 0xc2, 0xa1, 0x63, 0x03]);
  });

  it('decodes a put value into memory of its own', () => {
    const data = encodeCommand({ op: 'put', key: 'k', value: bytes('abc'), cond: noCond, session: null });
    const cmd = decodeCommand(data);
    data.fill(0);
    expect(cmd.op === 'put' && [...cmd.value]).toEqual([0x61, 0x62, 0x63]);
  });

  it('round-trips any valid command', () => {
    fc.assert(
      fc.property(commandArb, (cmd) => {
        expect(commandProblem(cmd)).toBe(null);
        expect(decodeCommand(encodeCommand(cmd))).toEqual(cmd);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses to encode invalid commands', () => {
    const put = (over: Partial<Extract<KVCommand, { op: 'put' }>>): KVCommand => ({
      op: 'put',
      key: 'k',
      value: bytes('v'),
      cond: noCond,
      session: null,
      ...over,
    });
    expect(commandProblem(put({ key: '' }))).toBe('key is empty');
    expect(commandProblem(put({ key: 'x'.repeat(1025) }))).toBe('key is 1025 bytes, over 1024');
    expect(commandProblem(put({ key: '\uD800' }))).toBe('key holds a lone surrogate');
    expect(commandProblem(put({ value: 'v' as unknown as Uint8Array }))).toBe('value is not a Uint8Array');
    expect(commandProblem(put({ cond: { ifMatch: '\uDC00', ifNoneMatch: false } }))).toBe(
      'ifMatch is neither null nor a well-formed string',
    );
    expect(commandProblem(put({ session: { client: '', seq: 1 } }))).toBe(
      `session client must be 1–${clientBytesMax} bytes of UTF-8`,
    );
    expect(commandProblem(put({ session: { client: 'c'.repeat(clientBytesMax + 1), seq: 1 } }))).toBe(
      `session client must be 1–${clientBytesMax} bytes of UTF-8`,
    );
    expect(commandProblem(put({ session: { client: 'c', seq: 0 } }))).toBe(
      'session seq is not a safe integer ≥ 1',
    );
    expect(commandProblem(put({ session: { client: 'c', seq: 1.5 } }))).toBe(
      'session seq is not a safe integer ≥ 1',
    );
    expect(commandProblem(put({ session: { client: 'c', seq: 2 ** 53 } }))).toBe(
      'session seq is not a safe integer ≥ 1',
    );
    expect(commandProblem({ op: 'get', key: 'k' } as unknown as KVCommand)).toBe(
      'op is neither put, delete nor a lease command',
    );
    expect(() => encodeCommand(put({ key: '' }))).toThrow(KVCommandError);
  });

  it('throws KVCommandError on malformed log data', () => {
    expect(decodeError(new Uint8Array())).toMatch(/^command is not msgpack/);
    expect(decodeError(packr.pack({ op: 'put' }))).toBe('command is not an array');
    expect(decodeError(packr.pack([9, 'k', null, false]))).toBe('command has unknown tag 9');
    expect(decodeError(packr.pack([1, 'k', bytes('v'), null]))).toBe('put has 4 fields');
    expect(decodeError(packr.pack([2, 'k', null, false, 'c']))).toBe('delete has 5 fields');
    expect(decodeError(packr.pack([1, 'k', 'v', null, false]))).toBe('value is not binary');
    expect(decodeError(packr.pack([1, '', bytes('v'), null, false]))).toBe('key is empty');
    expect(decodeError(packr.pack([2, 7, null, false]))).toBe('key is not a string');
    expect(decodeError(packr.pack([2, 'k', 5, false]))).toBe(
      'ifMatch is neither null nor a well-formed string',
    );
    expect(decodeError(packr.pack([2, 'k', null, 0]))).toBe('ifNoneMatch is not a boolean');
    expect(decodeError(packr.pack([2, 'k', null, false, 'c', -1]))).toBe(
      'session seq is not a safe integer ≥ 1',
    );
    expect(decodeError(packr.pack([2, 'k', null, false, 9, 1]))).toBe('session client is not a string');
    const good = encodeCommand({ op: 'delete', key: 'k', cond: noCond, session: null });
    expect(decodeError(new Uint8Array([...good, 0]))).toMatch(/^command is not msgpack/);
    expect(decodeError(good.subarray(0, good.length - 1))).toMatch(/^command is not msgpack/);
  });
});
