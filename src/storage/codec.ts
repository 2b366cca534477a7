/**
 * The values of the store: msgpack (msgpackr) behind a CRC-32 of the encoded bytes. Every record
 * is verified when read back; a checksum mismatch, an undecodable value or a value of the wrong
 * shape throws StoreCorruptError naming group and index. Pure functions; no I/O, no key layout.
 *
 *   value = <crc32 of payload, u32 BE> <payload>
 */

import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import type { Entry, HardState, Index, SnapshotMeta } from '../raft/types.js';
import type { GroupId, ReplicaRecord, StoreIdentity } from './raft-store.js';
import { StoreCorruptError, type StoreRecord } from './store-errors.js';

const packr = new Packr({ useRecords: false, moreTypes: false });
const crcBytes = 4;

/** Stored as their position here: append new kinds at the end. */
export const entryKinds = ['command', 'noop', 'config'] as const;

interface Where {
  readonly group: GroupId | null;
  readonly record: StoreRecord;
  readonly index: Index | null;
}

function corrupt(where: Where, reason: string): StoreCorruptError {
  return new StoreCorruptError(where.group, where.record, where.index, reason);
}

// msgpackr reuses its output buffer across calls, so the payload is copied into a fresh frame.
function frame(payload: Uint8Array): Buffer {
  const value = Buffer.allocUnsafe(crcBytes + payload.byteLength);
  value.writeUInt32BE(crc32(payload), 0);
  value.set(payload, crcBytes);
  return value;
}

function unframe(where: Where, value: Uint8Array): Buffer {
  if (value.byteLength < crcBytes) throw corrupt(where, `value of ${value.byteLength} bytes has no checksum`);
  const v = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const payload = v.subarray(crcBytes);
  const stored = v.readUInt32BE(0);
  const actual = crc32(payload);
  if (stored !== actual) {
    throw corrupt(where, `checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})`);
  }
  return payload;
}

function hex(crc: number): string {
  return crc.toString(16).padStart(8, '0');
}

/** Unpacks a tuple of `length` fields; `oldLength` admits the shorter tuple an older build wrote. */
function unpackTuple(where: Where, value: Uint8Array, length: number, oldLength = length): unknown[] {
  const payload = unframe(where, value);
  let decoded: unknown;
  try {
    decoded = packr.unpack(payload);
  } catch (err) {
    throw corrupt(where, `undecodable: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(decoded) || (decoded.length !== length && decoded.length !== oldLength)) {
    throw corrupt(where, `expected a tuple of ${length} fields`);
  }
  return decoded;
}

function isNat(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

// A copy as a plain Uint8Array: independent of the buffer it was read from.
function bytes(where: Where, x: unknown, field: string): Uint8Array {
  if (!(x instanceof Uint8Array)) throw corrupt(where, `${field} is not bytes`);
  return new Uint8Array(x);
}

function nat(where: Where, x: unknown, field: string): number {
  if (!isNat(x)) throw corrupt(where, `${field} is not a non-negative integer`);
  return x;
}

function text(where: Where, x: unknown, field: string): string {
  if (typeof x !== 'string') throw corrupt(where, `${field} is not a string`);
  return x;
}

/** Encodes one log entry with its checksum. */
export function encodeEntry(entry: Entry): Buffer {
  return frame(packr.pack([entry.index, entry.term, entryKinds.indexOf(entry.kind), entry.data]));
}

/**
 * Decodes the entry stored at `index` of `group`. Throws StoreCorruptError on a checksum
 * mismatch, an undecodable value, a wrong shape, or a stored index other than `index`.
 * The returned data is a fresh copy.
 */
export function decodeEntry(group: GroupId, index: Index, value: Uint8Array): Entry {
  const where: Where = { group, record: 'entry', index };
  const [storedIndex, term, kindCode, data] = unpackTuple(where, value, 4);
  if (storedIndex !== index) throw corrupt(where, `value holds index ${String(storedIndex)}`);
  const kind = entryKinds[kindCode as number];
  if (!isNat(kindCode) || kind === undefined) throw corrupt(where, `unknown entry kind ${String(kindCode)}`);
  return { index, term: nat(where, term, 'term'), kind, data: bytes(where, data, 'data') };
}

/** Encodes a group's hard state with its checksum. */
export function encodeHardState(hardState: HardState): Buffer {
  return frame(packr.pack([hardState.term, hardState.vote, hardState.commit]));
}

/** Decodes a group's hard state; throws StoreCorruptError when it is damaged. */
export function decodeHardState(group: GroupId, value: Uint8Array): HardState {
  const where: Where = { group, record: 'hardState', index: null };
  const [term, vote, commit] = unpackTuple(where, value, 3);
  if (vote !== null && typeof vote !== 'string') throw corrupt(where, 'vote is neither a node id nor null');
  return { term: nat(where, term, 'term'), vote, commit: nat(where, commit, 'commit') };
}

/** Encodes a snapshot's metadata with its checksum. */
export function encodeSnapshotMeta(meta: SnapshotMeta): Buffer {
  return frame(packr.pack([meta.index, meta.term, meta.voters, meta.learners]));
}

/** Decodes a group's snapshot metadata; throws StoreCorruptError when it is damaged. */
export function decodeSnapshotMeta(group: GroupId, value: Uint8Array): SnapshotMeta {
  const where: Where = { group, record: 'snapshot', index: null };
  // Stores written before learners existed hold (index, term, voters).
  const [index, term, voters, learners = []] = unpackTuple(where, value, 4, 3);
  if (!Array.isArray(voters)) throw corrupt(where, 'voters is not a list');
  if (!Array.isArray(learners)) throw corrupt(where, 'learners is not a list');
  return {
    index: nat(where, index, 'index'),
    term: nat(where, term, 'term'),
    voters: voters.map((v, k) => text(where, v, `voter ${k}`)),
    learners: learners.map((v, k) => text(where, v, `learner ${k}`)),
  };
}

/** Encodes a snapshot's data: the raw bytes behind their checksum, without msgpack. */
export function encodeSnapshotData(data: Uint8Array): Buffer {
  return frame(data);
}

/** Decodes the data of the snapshot at `index` of `group` into a fresh copy; verifies the checksum. */
export function decodeSnapshotData(group: GroupId, index: Index, value: Uint8Array): Uint8Array {
  return new Uint8Array(unframe({ group, record: 'snapshot', index }, value));
}

/** Encodes a replica record: the group's first configuration and where the replica joined. */
export function encodeReplica(record: ReplicaRecord): Buffer {
  return frame(packr.pack([record.initial.voters, record.initial.learners, record.joinedAfter]));
}

/** Decodes a replica record; throws StoreCorruptError when it is damaged. */
export function decodeReplica(group: GroupId, value: Uint8Array): ReplicaRecord {
  const where: Where = { group, record: 'replica', index: null };
  const [voters, learners, joinedAfter] = unpackTuple(where, value, 3);
  if (!Array.isArray(voters) || !Array.isArray(learners)) throw corrupt(where, 'members are not lists');
  return {
    initial: {
      voters: voters.map((v, k) => text(where, v, `voter ${k}`)),
      learners: learners.map((v, k) => text(where, v, `learner ${k}`)),
    },
    joinedAfter: nat(where, joinedAfter, 'joinedAfter'),
  };
}

/** Encodes the node's identity with its checksum. */
export function encodeIdentity(identity: StoreIdentity): Buffer {
  return frame(
    packr.pack([identity.clusterId, identity.nodeId, identity.format, identity.incarnation, identity.start]),
  );
}

const starts = ['unclaimed', 'bootstrap', 'member'] as const;

/** Decodes the node's identity; throws StoreCorruptError (group null) when it is damaged. */
export function decodeIdentity(value: Uint8Array): StoreIdentity {
  const where: Where = { group: null, record: 'identity', index: null };
  // A store from before incarnations (format 1) holds (clusterId, nodeId, format): a member.
  const [clusterId, nodeId, format, incarnation = '', start = 'member'] = unpackTuple(where, value, 5, 3);
  if (!starts.includes(start as StoreIdentity['start']))
    throw corrupt(where, `unknown start ${String(start)}`);
  return {
    clusterId: text(where, clusterId, 'clusterId'),
    nodeId: text(where, nodeId, 'nodeId'),
    format: nat(where, format, 'format'),
    incarnation: text(where, incarnation, 'incarnation'),
    start: start as StoreIdentity['start'],
  };
}

/** Encodes a pinned incarnation with its checksum. */
export function encodePin(incarnation: string): Buffer {
  return frame(packr.pack([incarnation]));
}

/** Decodes a pinned incarnation; throws StoreCorruptError when it is damaged. */
export function decodePin(value: Uint8Array): string {
  const where: Where = { group: null, record: 'identity', index: null };
  const [incarnation] = unpackTuple(where, value, 1);
  return text(where, incarnation, 'pin');
}
