/**
 * Generators shared by the fuzz suites: valid peer messages, batches and snapshot chunks in the
 * exact shape `wire.ts` decodes, the values that must never pass for a field of a given kind
 * (huge, negative, fractional and non-finite numbers, wrong types, over-long strings), and a
 * shape check that says whether a decoded message is exactly what the wire format promises.
 */

import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { expect } from 'vitest';
import type { Entry, Message } from '../../../src/raft/types.js';
import { type PeerBatch, type SnapshotChunk, wireVersion } from '../../../src/transport/wire.js';

/** Packs anything msgpack can carry, BigInts and typed arrays included; not the wire's own encoder. */
export const fuzzPackr = new Packr({ useRecords: false, moreTypes: true, useBigIntExtension: true });

/** `fuzzPackr.pack(x)`, or null for the few values it cannot pack. */
export function tryPack(x: unknown): Uint8Array | null {
  try {
    return fuzzPackr.pack(x);
  } catch {
    return null;
  }
}

export const messageTypes: readonly Message['type'][] = [
  'requestVote',
  'voteReply',
  'append',
  'appendReply',
  'heartbeat',
  'heartbeatReply',
  'snapshot',
  'timeoutNow',
];

/** Indexes and terms: mostly small, sometimes at the very top of the safe range. */
export const positionArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 6, arbitrary: fc.nat(64) },
  { weight: 2, arbitrary: fc.maxSafeNat() },
  // The edges: the core's positionMax (2^52) and the top of the safe integers.
  {
    weight: 1,
    arbitrary: fc.constantFrom(2 ** 52, 2 ** 52 + 1, Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER),
  },
);

/** Strings the wire accepts as ids: at most 1024 UTF-16 units, any well-formed Unicode. */
export const wireStringArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom('n1', 'n2', 'n3', 'c1') },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constant('x'.repeat(1024)) },
);

const bytesArb = fc.uint8Array({ maxLength: 24 });

export function entryArb(index: fc.Arbitrary<number> = positionArb): fc.Arbitrary<Entry> {
  return fc.record({
    index,
    term: positionArb,
    kind: fc.constantFrom('command' as const, 'noop' as const),
    data: bytesArb,
  });
}

/** Any message of a type in `types`, in the shape the decoder rebuilds (field values unconstrained). */
export function messageArb(
  opts: { ids?: fc.Arbitrary<string>; types?: readonly Message['type'][] } = {},
): fc.Arbitrary<Message> {
  const id = opts.ids ?? wireStringArb;
  const types = opts.types ?? messageTypes;
  const env = { from: id, to: id, term: positionArb };
  const byType: Record<Message['type'], fc.Arbitrary<Message>> = {
    requestVote: fc.record({
      ...env,
      type: fc.constant('requestVote' as const),
      pre: fc.boolean(),
      lastIndex: positionArb,
      lastTerm: positionArb,
      transfer: fc.boolean(),
    }),
    voteReply: fc.record({
      ...env,
      type: fc.constant('voteReply' as const),
      pre: fc.boolean(),
      granted: fc.boolean(),
    }),
    append: fc.record({
      ...env,
      type: fc.constant('append' as const),
      prevIndex: positionArb,
      prevTerm: positionArb,
      entries: fc.array(entryArb(), { maxLength: 4 }),
      commit: positionArb,
    }),
    appendReply: fc.record({
      ...env,
      type: fc.constant('appendReply' as const),
      index: positionArb,
      ok: fc.boolean(),
      hint: fc.option(fc.record({ index: positionArb, term: positionArb }), { nil: null }),
    }),
    heartbeat: fc.record({
      ...env,
      type: fc.constant('heartbeat' as const),
      commit: positionArb,
      read: positionArb,
    }),
    heartbeatReply: fc.record({ ...env, type: fc.constant('heartbeatReply' as const), read: positionArb }),
    snapshot: fc.record({
      ...env,
      type: fc.constant('snapshot' as const),
      snapshot: fc.record({
        meta: fc.record({
          index: positionArb,
          term: positionArb,
          voters: fc.array(wireStringArb, { maxLength: 5 }),
          learners: fc.array(wireStringArb, { maxLength: 3 }),
        }),
        data: bytesArb,
      }),
    }),
    timeoutNow: fc.record({ ...env, type: fc.constant('timeoutNow' as const) }),
  };
  return fc.oneof(...types.map((t) => byType[t]));
}

export function batchArb(messagesMax: number, minMessages = 0): fc.Arbitrary<PeerBatch> {
  return fc.record({
    v: fc.constant(wireVersion),
    cluster: wireStringArb,
    from: wireStringArb,
    msgs: fc.array(fc.record({ group: positionArb, msg: messageArb() }), {
      minLength: minMessages,
      maxLength: messagesMax,
    }),
  });
}

/** A valid chunk: offset + chunk length never passes total. */
export const snapshotChunkArb: fc.Arbitrary<SnapshotChunk> = fc
  .record({
    v: fc.constant(wireVersion),
    cluster: wireStringArb,
    from: wireStringArb,
    group: positionArb,
    header: fc.record({
      from: wireStringArb,
      to: wireStringArb,
      term: positionArb,
      meta: fc.record({
        index: positionArb,
        term: positionArb,
        voters: fc.array(wireStringArb, { maxLength: 5 }),
        learners: fc.array(wireStringArb, { maxLength: 3 }),
      }),
    }),
    offset: fc.nat(1 << 20),
    slack: fc.oneof(fc.constant(0), fc.nat(1 << 20)),
    chunk: bytesArb,
    done: fc.boolean(),
  })
  // In the decoder's field order, so that a decoded chunk encodes to the very same bytes.
  .map(({ slack, chunk, done, ...c }) => ({ ...c, total: c.offset + chunk.byteLength + slack, chunk, done }));

const isPosition = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isWireString = (x: unknown): boolean => typeof x === 'string' && x.length <= 1024;

function keysAre(o: object, keys: readonly string[]): boolean {
  const own = Object.keys(o).sort();
  return own.length === keys.length && [...keys].sort().every((k, i) => own[i] === k);
}

/** Why `m` is not exactly a message as the wire format defines it, or null when it is. */
export function messageShapeProblem(m: Message): string | null {
  if (!isWireString(m.from) || !isWireString(m.to) || !isPosition(m.term)) return 'envelope';
  const fields = (...keys: string[]) => keysAre(m, ['from', 'to', 'term', 'type', ...keys]);
  switch (m.type) {
    case 'requestVote':
      return fields('pre', 'lastIndex', 'lastTerm', 'transfer') &&
        typeof m.pre === 'boolean' &&
        typeof m.transfer === 'boolean' &&
        isPosition(m.lastIndex) &&
        isPosition(m.lastTerm)
        ? null
        : 'requestVote';
    case 'voteReply':
      return fields('pre', 'granted') && typeof m.pre === 'boolean' && typeof m.granted === 'boolean'
        ? null
        : 'voteReply';
    case 'append':
      return fields('prevIndex', 'prevTerm', 'entries', 'commit') &&
        isPosition(m.prevIndex) &&
        isPosition(m.prevTerm) &&
        isPosition(m.commit) &&
        Array.isArray(m.entries) &&
        m.entries.every(
          (e) =>
            keysAre(e, ['index', 'term', 'kind', 'data']) &&
            isPosition(e.index) &&
            isPosition(e.term) &&
            (e.kind === 'command' || e.kind === 'noop') &&
            e.data instanceof Uint8Array,
        )
        ? null
        : 'append';
    case 'appendReply':
      return fields('index', 'ok', 'hint') &&
        isPosition(m.index) &&
        typeof m.ok === 'boolean' &&
        (m.hint === null ||
          (keysAre(m.hint, ['index', 'term']) && isPosition(m.hint.index) && isPosition(m.hint.term)))
        ? null
        : 'appendReply';
    case 'heartbeat':
      return fields('commit', 'read') && isPosition(m.commit) && isPosition(m.read) ? null : 'heartbeat';
    case 'heartbeatReply':
      return fields('read') && isPosition(m.read) ? null : 'heartbeatReply';
    case 'snapshot': {
      const s = m.snapshot;
      return fields('snapshot') &&
        keysAre(s, ['meta', 'data']) &&
        s.data instanceof Uint8Array &&
        keysAre(s.meta, ['index', 'term', 'voters', 'learners']) &&
        isPosition(s.meta.index) &&
        isPosition(s.meta.term) &&
        Array.isArray(s.meta.voters) &&
        s.meta.voters.every(isWireString) &&
        Array.isArray(s.meta.learners) &&
        s.meta.learners.every(isWireString)
        ? null
        : 'snapshot';
    }
    case 'timeoutNow':
      return fields() ? null : 'timeoutNow';
    default:
      return `unknown type ${String((m as { type: unknown }).type)}`;
  }
}

/** `a` and `b` are the same bytes; when not, fails with vitest's diff of what they decode to. */
export function expectSameBytes(a: Uint8Array, b: Uint8Array, decode: (x: Uint8Array) => unknown): void {
  if (Buffer.compare(a, b) !== 0) expect(canon(decode(a))).toEqual(canon(decode(b)));
}

/** Deep equality of `canon(a)` and `canon(b)`; on a difference, fails with vitest's diff. */
export function expectSameWire(a: unknown, b: unknown): void {
  const [x, y] = [canon(a), canon(b)];
  if (!isDeepStrictEqual(x, y)) expect(x).toEqual(y);
}

/** `x` with every Uint8Array (Buffer or not) turned into a plain array, for deep comparisons. */
export function canon(x: unknown): unknown {
  if (x instanceof Uint8Array) return { bytes: Array.from(x) };
  if (Array.isArray(x)) return x.map(canon);
  if (typeof x === 'object' && x !== null) {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, canon(v)]));
  }
  return x;
}
