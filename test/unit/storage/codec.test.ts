import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../../src/raft/types.js';
import {
  decodeEntry,
  decodeHardState,
  decodeIdentity,
  decodeSnapshotData,
  decodeSnapshotMeta,
  encodeEntry,
  encodeHardState,
  encodeIdentity,
  encodeSnapshotData,
  encodeSnapshotMeta,
} from '../../../src/storage/codec.js';
import { StoreCorruptError } from '../../../src/storage/store-errors.js';

const nat = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const arbEntry: fc.Arbitrary<Entry> = fc.record({
  index: nat,
  term: nat,
  kind: fc.constantFrom('command' as const, 'noop' as const),
  data: fc.uint8Array({ maxLength: 300 }),
});

describe('codec', () => {
  it('round-trips entries', () => {
    fc.assert(
      fc.property(arbEntry, (e) => {
        expect(decodeEntry(7, e.index, encodeEntry(e))).toEqual(e);
      }),
    );
  });

  it('detects any single flipped bit of an entry value', () => {
    fc.assert(
      fc.property(arbEntry, fc.nat(), fc.integer({ min: 0, max: 7 }), (e, at, bit) => {
        const value = encodeEntry(e);
        value[at % value.length]! ^= 1 << bit;
        expect(() => decodeEntry(7, e.index, value)).toThrow(StoreCorruptError);
      }),
    );
  });

  it('names group, record and index of a value that is too short', () => {
    expect(() => decodeEntry(2, 9, new Uint8Array([1]))).toThrow(
      new StoreCorruptError(2, 'entry', 9, 'value of 1 bytes has no checksum'),
    );
  });

  it('reports a checksummed value that is not msgpack, or not an entry, as corrupt', () => {
    const framed = (payload: Uint8Array) => encodeSnapshotData(payload);
    expect(() => decodeEntry(1, 1, framed(new Uint8Array([0x94, 0x01])))).toThrow(
      /^store corrupt: group 1 entry 1: undecodable: /,
    );
    const notEntry = framed(new Packr({ useRecords: false }).pack([1, 1, 5, new Uint8Array(0)]));
    expect(() => decodeEntry(1, 1, notEntry)).toThrow(
      new StoreCorruptError(1, 'entry', 1, 'unknown entry kind 5'),
    );
    const shortTuple = framed(new Packr({ useRecords: false }).pack([1, 1]));
    expect(() => decodeEntry(1, 1, shortTuple)).toThrow(
      new StoreCorruptError(1, 'entry', 1, 'expected a tuple of 4 fields'),
    );
  });

  it('returns entry data as a plain Uint8Array that owns its bytes', () => {
    const value = encodeEntry({ index: 1, term: 1, kind: 'command', data: new Uint8Array([1, 2, 3]) });
    const e = decodeEntry(0, 1, value);
    value.fill(0);
    expect([e.data.constructor, e.data]).toEqual([Uint8Array, new Uint8Array([1, 2, 3])]);
  });

  it('round-trips hard state, snapshot and identity', () => {
    expect(decodeHardState(1, encodeHardState({ term: 4, vote: 'n2', commit: 9 }))).toEqual({
      term: 4,
      vote: 'n2',
      commit: 9,
    });
    expect(decodeHardState(1, encodeHardState({ term: 0, vote: null, commit: 0 }))).toEqual({
      term: 0,
      vote: null,
      commit: 0,
    });
    const meta = { index: 2 ** 40, term: 3, voters: ['n1', 'n2', 'n3'], learners: [] };
    expect(decodeSnapshotMeta(1, encodeSnapshotMeta(meta))).toEqual(meta);
    expect(decodeSnapshotData(1, 5, encodeSnapshotData(new Uint8Array([9, 8])))).toEqual(
      new Uint8Array([9, 8]),
    );
    const identity = {
      clusterId: 'c1',
      nodeId: 'n1',
      format: 1,
      incarnation: 'i1',
      start: 'member' as const,
    };
    expect(decodeIdentity(encodeIdentity(identity))).toEqual(identity);
  });

  it('names the record of a damaged identity and snapshot', () => {
    const identity = encodeIdentity({
      clusterId: 'c1',
      nodeId: 'n1',
      format: 1,
      incarnation: 'i1',
      start: 'member',
    });
    identity[6]! ^= 0xff;
    expect(() => decodeIdentity(identity)).toThrow(/^store corrupt: identity: checksum mismatch/);
    const data = encodeSnapshotData(new Uint8Array([1, 2, 3]));
    data[4]! ^= 0xff;
    expect(() => decodeSnapshotData(3, 12, data)).toThrow(
      /^store corrupt: group 3 snapshot 12: checksum mismatch/,
    );
  });
});
