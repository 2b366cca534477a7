/**
 * Fuzzing the peer wire decoder (issue #8): `decodeBatch` and `decodeSnapshotChunk` never throw,
 * whatever the bytes (random, truncated or bit-flipped encodings, arbitrary msgpack, valid shapes
 * with one required field wrong, too many messages); whatever they accept is exactly a message
 * of the wire format and decodes to itself again; every valid batch or chunk is accepted as is.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { malformation } from '../../../src/raft/well-formed.js';
import {
  type Decoded,
  decodeBatch,
  decodeSnapshotChunk,
  encodeBatch,
  encodeSnapshotChunk,
  type PeerBatch,
  type SnapshotChunk,
} from '../../../src/transport/wire.js';
import { batchArb, expectSameBytes, messageShapeProblem, snapshotChunkArb, tryPack } from './arbitraries.js';
import { fuzzBudget } from './budget.js';
import { badValueArb, batchFields, chunkFields, replaceAt } from './wire-mutations.js';

/** Kept small so that batches over the limit are cheap to build. */
const limits = { messagesMax: 6 };

/** Counts the cases each property completes; the file fails if one runs other than its share. */
const fuzz = fuzzBudget('peerDecoder');

/** Decodes without letting an exception escape unnoticed: a throw is a failed case, with its stack. */
function decodeBatchSafely(body: Uint8Array): Decoded<PeerBatch> {
  try {
    return decodeBatch(body, limits);
  } catch (err) {
    throw new Error(`decodeBatch threw on ${Buffer.from(body).toString('hex')}`, { cause: err });
  }
}

function decodeChunkSafely(body: Uint8Array): Decoded<SnapshotChunk> {
  try {
    return decodeSnapshotChunk(body);
  } catch (err) {
    throw new Error(`decodeSnapshotChunk threw on ${Buffer.from(body).toString('hex')}`, { cause: err });
  }
}

const decodedBatch = (body: Uint8Array): unknown => decodeBatchSafely(body);
const decodedChunk = (body: Uint8Array): unknown => decodeChunkSafely(body);

/** Every message of an accepted batch is exactly of the wire format, and the core's check takes it. */
function checkBatchShape(b: PeerBatch): void {
  expect(b.msgs.length).toBeLessThanOrEqual(limits.messagesMax);
  for (const gm of b.msgs) {
    expect(Number.isSafeInteger(gm.group) && gm.group >= 0).toBe(true);
    expect(messageShapeProblem(gm.msg)).toBeNull();
    const why = malformation(gm.msg);
    expect(why === null || typeof why === 'string').toBe(true);
  }
}

/** An accepted batch is well formed and round-trips: it encodes, decodes and encodes to the same bytes. */
function checkAcceptedBatch(b: PeerBatch): void {
  checkBatchShape(b);
  const body = encodeBatch(b);
  const again = decodeBatchSafely(body);
  if (!again.ok) throw new Error(`an accepted batch does not decode again: ${again.reason}`);
  expectSameBytes(encodeBatch(again.value), body, decodedBatch);
}

function checkAcceptedChunk(c: SnapshotChunk): void {
  expect(c.offset + c.chunk.byteLength).toBeLessThanOrEqual(c.total);
  expect(c.chunk).toBeInstanceOf(Uint8Array);
  const body = encodeSnapshotChunk(c);
  const again = decodeChunkSafely(body);
  if (!again.ok) throw new Error(`an accepted chunk does not decode again: ${again.reason}`);
  expectSameBytes(encodeSnapshotChunk(again.value), body, decodedChunk);
}

/**
 * Random bytes: plain, or after the start of a versioned msgpack map (`{"v":1, ...`), so that the
 * parser and the validator get past the first byte.
 */
const randomBodyArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  fc
    .tuple(
      fc.constantFrom([0x84], [0x89], [0xde, 0x00, 0x04], [0xdf, 0x00, 0x00, 0x00, 0x09]),
      fc.uint8Array({ maxLength: 256 }),
    )
    .map(([head, tail]) => Uint8Array.from([...head, 0xa1, 0x76, 0x01, ...tail])),
);

/** Flips the bits of `mask` in the byte at each position (modulo the length). */
const bitFlipsArb = fc.array(fc.record({ at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }), {
  minLength: 1,
  maxLength: 6,
});

function flip(body: Uint8Array, flips: readonly { at: number; mask: number }[]): Uint8Array {
  const out = Uint8Array.from(body);
  for (const { at, mask } of flips) out[at % out.length]! ^= mask;
  return out;
}

/** Arbitrary JavaScript values (maps, sets, typed arrays, BigInts, dates...) as msgpack. */
const anyMsgpackArb = fc
  .anything({
    maxDepth: 4,
    withBigInt: true,
    withBoxedValues: false,
    withDate: true,
    withMap: true,
    withSet: true,
    withTypedArray: true,
    withNullPrototype: true,
    withSparseArray: true,
  })
  .map(tryPack)
  .filter((b): b is Uint8Array => b !== null);

/** Objects that look like a batch or chunk at the top but hold anything below. */
function lookalikeArb(keys: readonly string[]): fc.Arbitrary<Uint8Array> {
  const value = fc.anything({ maxDepth: 3, withBigInt: true, withTypedArray: true, withMap: true });
  return fc
    .record({ v: fc.oneof(fc.constant(1), value), ...Object.fromEntries(keys.map((k) => [k, value])) })
    .map(tryPack)
    .filter((b): b is Uint8Array => b !== null);
}

describe('decodeBatch under fuzzing', () => {
  it('accepts every valid batch unchanged', () => {
    fc.assert(
      fc.property(
        batchArb(limits.messagesMax),
        fuzz.counted('batchValid', (batch) => {
          const body = encodeBatch(batch);
          const d = decodeBatchSafely(body);
          if (!d.ok) throw new Error(`refused a valid batch: ${d.reason}`);
          // Exactly the batch that was sent: it encodes to the very bytes that arrived.
          expectSameBytes(encodeBatch(d.value), body, decodedBatch);
          checkBatchShape(d.value);
        }),
      ),
      fuzz.params('batchValid'),
    );
  });

  it('never throws on random bytes; whatever it accepts is well formed and round-trips', () => {
    fc.assert(
      fc.property(
        randomBodyArb,
        fuzz.counted('batchRandomBytes', (body) => {
          const d = decodeBatchSafely(body);
          if (d.ok) checkAcceptedBatch(d.value);
        }),
      ),
      fuzz.params('batchRandomBytes'),
    );
  });

  it('refuses every strict prefix of a valid encoding', () => {
    fc.assert(
      fc.property(
        batchArb(limits.messagesMax),
        fc.nat(),
        fuzz.counted('batchTruncated', (batch, cut) => {
          const body = encodeBatch(batch);
          const d = decodeBatchSafely(body.subarray(0, cut % body.length));
          expect(d.ok).toBe(false);
        }),
      ),
      fuzz.params('batchTruncated'),
    );
  });

  it('never throws on bit-flipped or extended encodings; what it accepts round-trips', () => {
    fc.assert(
      fc.property(
        batchArb(limits.messagesMax, 1),
        bitFlipsArb,
        fc.uint8Array({ maxLength: 8 }),
        fuzz.counted('batchBitFlipped', (batch, flips, tail) => {
          const body = flip(encodeBatch(batch), flips);
          for (const b of [body, Buffer.concat([body, tail])]) {
            const d = decodeBatchSafely(b);
            if (d.ok) checkAcceptedBatch(d.value);
          }
        }),
      ),
      fuzz.params('batchBitFlipped'),
    );
  });

  it('never throws on arbitrary msgpack, batch-like or not', () => {
    fc.assert(
      fc.property(
        fc.oneof(anyMsgpackArb, lookalikeArb(['cluster', 'from', 'msgs'])),
        fc.oneof(
          fc.constant(null),
          fc.record({
            type: fc.constantFrom('append', 'snapshot', 'appendReply'),
            x: fc.anything({ withBigInt: true }),
          }),
        ),
        fuzz.counted('batchAnyMsgpack', (body, msg) => {
          const d = decodeBatchSafely(body);
          if (d.ok) checkAcceptedBatch(d.value);
          if (msg === null) return;
          const nested = tryPack({ v: 1, cluster: 'c1', from: 'n2', msgs: [{ group: 0, msg }] });
          if (nested !== null) expect(decodeBatchSafely(nested).ok).toBe(false);
        }),
      ),
      fuzz.params('batchAnyMsgpack'),
    );
  });

  it('refuses a valid batch with any one required field wrong or missing (huge, negative, NaN, float, wrong type, unknown message type)', () => {
    const mutated = batchArb(limits.messagesMax, 1).chain((batch) => {
      const fields = batchFields(batch);
      return fc
        .record({
          batch: fc.constant(batch),
          field: fc.constantFrom(...fields),
          remove: fc.boolean(),
        })
        .chain(({ batch: b, field, remove }) =>
          badValueArb(field.kind).map((bad) => ({ b, field, remove, bad })),
        );
    });
    fc.assert(
      fc.property(
        mutated,
        fuzz.counted('batchWrongField', ({ b, field, remove, bad }) => {
          const body = tryPack(replaceAt(b, field.path, bad, remove));
          if (body === null) throw new Error(`could not pack a ${field.kind} replacement`);
          const d = decodeBatchSafely(body);
          if (d.ok) throw new Error(`accepted ${field.path.join('.')} = ${String(bad)} (${field.kind})`);
        }),
      ),
      fuzz.params('batchWrongField'),
    );
  });

  it('refuses a batch of more messages than the limit and takes one at the limit', () => {
    fc.assert(
      fc.property(
        batchArb(limits.messagesMax, limits.messagesMax),
        fc.integer({ min: 1, max: 50 }),
        fuzz.counted('batchTooMany', (b, extra) => {
          expect(decodeBatchSafely(encodeBatch(b)).ok).toBe(true);
          const over = { ...b, msgs: [...b.msgs, ...Array.from({ length: extra }, () => b.msgs[0]!)] };
          const d = decodeBatchSafely(encodeBatch(over));
          expect(d).toEqual({ ok: false, reason: `more than ${limits.messagesMax} messages` });
        }),
      ),
      fuzz.params('batchTooMany'),
    );
  });
});

describe('decodeSnapshotChunk under fuzzing', () => {
  it('accepts every valid chunk unchanged', () => {
    fc.assert(
      fc.property(
        snapshotChunkArb,
        fuzz.counted('chunkValid', (chunk) => {
          const body = encodeSnapshotChunk(chunk);
          const d = decodeChunkSafely(body);
          if (!d.ok) throw new Error(`refused a valid chunk: ${d.reason}`);
          expectSameBytes(encodeSnapshotChunk(d.value), body, decodedChunk);
          expect(d.value.chunk).toBeInstanceOf(Uint8Array);
        }),
      ),
      fuzz.params('chunkValid'),
    );
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(
        randomBodyArb,
        fuzz.counted('chunkRandomBytes', (body) => {
          const d = decodeChunkSafely(body);
          if (d.ok) checkAcceptedChunk(d.value);
        }),
      ),
      fuzz.params('chunkRandomBytes'),
    );
  });

  it('refuses strict prefixes and never throws on bit flips', () => {
    fc.assert(
      fc.property(
        snapshotChunkArb,
        fc.nat(),
        bitFlipsArb,
        fuzz.counted('chunkTruncatedOrFlipped', (chunk, cut, flips) => {
          const body = encodeSnapshotChunk(chunk);
          expect(decodeChunkSafely(body.subarray(0, cut % body.length)).ok).toBe(false);
          const d = decodeChunkSafely(flip(body, flips));
          if (d.ok) checkAcceptedChunk(d.value);
        }),
      ),
      fuzz.params('chunkTruncatedOrFlipped'),
    );
  });

  it('never throws on arbitrary msgpack', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyMsgpackArb,
          lookalikeArb(['cluster', 'from', 'group', 'header', 'offset', 'total', 'chunk', 'done']),
        ),
        fuzz.counted('chunkAnyMsgpack', (body) => {
          const d = decodeChunkSafely(body);
          if (d.ok) checkAcceptedChunk(d.value);
        }),
      ),
      fuzz.params('chunkAnyMsgpack'),
    );
  });

  it('refuses a valid chunk with one required field wrong, or a chunk running past its total', () => {
    const mutated = snapshotChunkArb.chain((chunk) =>
      fc
        .record({ field: fc.constantFrom(...chunkFields(chunk)), remove: fc.boolean() })
        .chain(({ field, remove }) => badValueArb(field.kind).map((bad) => ({ chunk, field, remove, bad }))),
    );
    fc.assert(
      fc.property(
        mutated,
        fc.integer({ min: 1, max: 2 ** 40 }),
        fuzz.counted('chunkWrongField', ({ chunk, field, remove, bad }, short) => {
          const body = tryPack(replaceAt(chunk, field.path, bad, remove));
          if (body === null) throw new Error(`could not pack a ${field.kind} replacement`);
          const d = decodeChunkSafely(body);
          if (d.ok) throw new Error(`accepted ${field.path.join('.')} = ${String(bad)} (${field.kind})`);
          if (chunk.chunk.byteLength === 0) return;
          const past = { ...chunk, total: Math.max(0, chunk.offset + chunk.chunk.byteLength - short) };
          expect(decodeChunkSafely(encodeSnapshotChunk(past))).toEqual({
            ok: false,
            reason: 'chunk beyond total',
          });
        }),
      ),
      fuzz.params('chunkWrongField'),
    );
  });
});
