/**
 * Mutations of valid peer batches and snapshot chunks: every field the decoder requires, with the
 * kind of value it must hold, and values no field of that kind may accept (huge, negative,
 * fractional and non-finite numbers, BigInts, wrong types, over-long strings, unknown message
 * types), to put in one place of an otherwise valid object.
 */

import fc from 'fast-check';
import type { Message } from '../../../src/raft/types.js';
import { type PeerBatch, type SnapshotChunk, wireVersion } from '../../../src/transport/wire.js';
import { messageTypes } from './arbitraries.js';

/** What a field must hold; `version`, `type`, `kind` and `hint` are the special ones. */
export type FieldKind =
  | 'int'
  | 'str'
  | 'bool'
  | 'bytes'
  | 'arr'
  | 'obj'
  | 'version'
  | 'type'
  | 'kind'
  | 'hint';

/** The place of one field the decoder requires, in a decoded-shape object. */
export interface RequiredField {
  readonly path: readonly (string | number)[];
  readonly kind: FieldKind;
}

type Path = readonly (string | number)[];

function messageFields(m: Message, at: Path): RequiredField[] {
  const f = (key: string | number, kind: FieldKind, base: Path = at): RequiredField => ({
    path: [...base, key],
    kind,
  });
  const out = [f('from', 'str'), f('to', 'str'), f('term', 'int'), f('type', 'type')];
  switch (m.type) {
    case 'requestVote':
      return [...out, f('pre', 'bool'), f('lastIndex', 'int'), f('lastTerm', 'int'), f('transfer', 'bool')];
    case 'voteReply':
      return [...out, f('pre', 'bool'), f('granted', 'bool')];
    case 'append':
      return [
        ...out,
        f('prevIndex', 'int'),
        f('prevTerm', 'int'),
        f('entries', 'arr'),
        f('commit', 'int'),
        ...m.entries.flatMap((_, j) => {
          const e = [...at, 'entries', j];
          return [
            { path: e, kind: 'obj' as const },
            f('index', 'int', e),
            f('term', 'int', e),
            f('kind', 'kind', e),
            f('data', 'bytes', e),
          ];
        }),
      ];
    case 'appendReply':
      return [
        ...out,
        f('index', 'int'),
        f('ok', 'bool'),
        f('hint', 'hint'),
        ...(m.hint === null ? [] : [f('index', 'int', [...at, 'hint']), f('term', 'int', [...at, 'hint'])]),
      ];
    case 'heartbeat':
      return [...out, f('commit', 'int'), f('read', 'int')];
    case 'heartbeatReply':
      return [...out, f('read', 'int')];
    case 'snapshot':
      return [
        ...out,
        f('snapshot', 'obj'),
        f('data', 'bytes', [...at, 'snapshot']),
        ...metaFields(m.snapshot.meta, [...at, 'snapshot', 'meta']),
      ];
    case 'timeoutNow':
      return out;
  }
}

function metaFields(
  meta: { readonly voters: readonly string[]; readonly learners: readonly string[] },
  at: Path,
): RequiredField[] {
  return [
    { path: at, kind: 'obj' },
    { path: [...at, 'index'], kind: 'int' },
    { path: [...at, 'term'], kind: 'int' },
    { path: [...at, 'voters'], kind: 'arr' },
    ...meta.voters.map((_, i) => ({ path: [...at, 'voters', i], kind: 'str' as const })),
    { path: [...at, 'learners'], kind: 'arr' },
    ...meta.learners.map((_, i) => ({ path: [...at, 'learners', i], kind: 'str' as const })),
  ];
}

/** Every field of `b` the decoder requires, nested ones included. */
export function batchFields(b: PeerBatch): RequiredField[] {
  return [
    { path: ['v'], kind: 'version' },
    { path: ['cluster'], kind: 'str' },
    { path: ['from'], kind: 'str' },
    { path: ['msgs'], kind: 'arr' },
    ...b.msgs.flatMap((gm, k) => [
      { path: ['msgs', k], kind: 'obj' as const },
      { path: ['msgs', k, 'group'], kind: 'int' as const },
      { path: ['msgs', k, 'msg'], kind: 'obj' as const },
      ...messageFields(gm.msg, ['msgs', k, 'msg']),
    ]),
  ];
}

/** Every field of `c` the decoder requires, nested ones included. */
export function chunkFields(c: SnapshotChunk): RequiredField[] {
  const h = (key: string, kind: FieldKind): RequiredField => ({ path: ['header', key], kind });
  return [
    { path: ['v'], kind: 'version' },
    { path: ['cluster'], kind: 'str' },
    { path: ['from'], kind: 'str' },
    { path: ['group'], kind: 'int' },
    { path: ['header'], kind: 'obj' },
    h('from', 'str'),
    h('to', 'str'),
    h('term', 'int'),
    ...metaFields(c.header.meta, ['header', 'meta']),
    { path: ['offset'], kind: 'int' },
    { path: ['total'], kind: 'int' },
    { path: ['chunk'], kind: 'bytes' },
    { path: ['done'], kind: 'bool' },
  ];
}

const nonIntegerNumber = fc.oneof(
  fc.constantFrom(
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    0.5,
    1e300,
    Number.MAX_VALUE,
  ),
  fc.double({ noInteger: true }),
);
/** Integers JavaScript holds exactly or not, but none a position may be. */
const badInteger = fc.oneof(
  fc.constantFrom(-1, 2 ** 53, 2 ** 53 + 2, 2 ** 64, -(2 ** 53)),
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: -1 }),
  // Small BigInts are packed as plain integers; these are not.
  fc.bigInt().filter((b) => b < 0n || b > BigInt(Number.MAX_SAFE_INTEGER)),
);
const tooLongString = fc.string({ minLength: 1025, maxLength: 1100 });
const otherTypes = fc.constantFrom<unknown>(
  null,
  undefined,
  true,
  false,
  '',
  '1',
  [],
  [1],
  {},
  { v: 1 },
  new Uint16Array([1]),
  new Map([['a', 1]]),
  new Set([1]),
);

/** Values that a field of `kind` must never accept. */
export function badValueArb(kind: FieldKind): fc.Arbitrary<unknown> {
  const bytes = fc.uint8Array({ maxLength: 4 });
  switch (kind) {
    case 'int':
      return fc.oneof(nonIntegerNumber, badInteger, otherTypes, bytes, fc.string({ maxLength: 3 }));
    case 'str':
      return fc.oneof(
        tooLongString,
        fc.integer(),
        nonIntegerNumber,
        bytes,
        otherTypes.filter((x) => typeof x !== 'string'),
      );
    case 'bool':
      return fc.oneof(
        fc.integer(),
        fc.constantFrom<unknown>('true', 'false', 0, 1, null, undefined, [], {}),
        bytes,
      );
    case 'bytes':
      return fc.oneof(
        fc.string(),
        fc.array(fc.nat(255), { maxLength: 4 }),
        fc.integer(),
        fc.constantFrom<unknown>(null, undefined, {}, true, new Uint16Array([1, 2]), new Int8Array([1])),
      );
    case 'arr':
      return fc.oneof(
        fc.constantFrom<unknown>({}, { length: 1, 0: 1 }, 'abc', null, undefined, 1, true, new Set([1])),
        bytes,
      );
    case 'obj':
      return fc.oneof(fc.constantFrom<unknown>([], [{}], null, undefined, 'x', 1, true, 1n), bytes);
    case 'version':
      return fc.oneof(
        fc.integer().filter((v) => v !== wireVersion),
        nonIntegerNumber,
        fc.constantFrom<unknown>('1', null, undefined, [1], {}, 2n ** 70n),
      );
    case 'type':
      return fc.oneof(
        fc.string().filter((t) => !(messageTypes as readonly string[]).includes(t)),
        fc.constantFrom<unknown>(
          'APPEND',
          'append ',
          'toString',
          '__proto__',
          'constructor',
          null,
          undefined,
          7,
          1n,
          ['append'],
          {},
          { type: 'append' },
        ),
        fc.bigInt(),
        bytes,
      );
    case 'kind':
      return fc.oneof(
        fc.string().filter((k) => k !== 'command' && k !== 'noop'),
        fc.constantFrom<unknown>(null, undefined, 0, 1n, ['noop'], {}),
      );
    case 'hint':
      return fc.oneof(fc.constantFrom<unknown>(undefined, [], 'x', 0, true, 1n), bytes);
  }
}

/** A deep copy of `x` with the value at `path` replaced by `value`, or deleted when `remove`. */
export function replaceAt(x: unknown, path: Path, value: unknown, remove = false): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  if (Array.isArray(x)) {
    const copy = [...x];
    copy[head as number] = replaceAt(copy[head as number], rest, value, remove);
    return copy;
  }
  const copy: Record<string, unknown> = { ...(x as Record<string, unknown>) };
  if (remove && rest.length === 0) delete copy[head];
  else copy[head] = replaceAt(copy[head], rest, value, remove);
  return copy;
}
