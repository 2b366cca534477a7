/**
 * The key layout of a node's one LevelDB. Keys are bytes whose lexicographic order is the order
 * the store needs: every record of a group shares the group's prefix, and a group's entries sort
 * by index. This module builds and parses keys only; values belong to codec.ts.
 *
 *   identity:        0x01 0x01
 *   pin of a peer:   0x01 0x02 <peer node id, UTF-8>
 *   replica:         0x02 <group u32 BE> 0x00
 *   hard state:      0x02 <group u32 BE> 0x01
 *   snapshot meta:   0x02 <group u32 BE> 0x02
 *   snapshot data:   0x02 <group u32 BE> 0x03
 *   entry:           0x02 <group u32 BE> 0x04 <index u64 BE>
 */

import type { Index } from '../raft/types.js';
import type { GroupId } from './raft-store.js';

const nodeSpace = 0x01;
const groupSpace = 0x02;

const identityRecord = 0x01;
const pinRecord = 0x02;
const replicaRecord = 0x00;
const hardStateRecord = 0x01;
const snapshotMetaRecord = 0x02;
const snapshotDataRecord = 0x03;
const entryRecord = 0x04;

const groupPrefixBytes = 6;
const entryKeyBytes = groupPrefixBytes + 8;
const twoPow32 = 2 ** 32;

/** The largest group id a key can hold. */
export const groupIdMax = twoPow32 - 1;

/** Whether `group` fits the key layout: an integer in 0 .. groupIdMax. */
export function isGroupId(group: number): boolean {
  return Number.isInteger(group) && group >= 0 && group <= groupIdMax;
}

/** Whether `index` fits the key layout: a non-negative safe integer. */
export function isIndex(index: number): boolean {
  return Number.isSafeInteger(index) && index >= 0;
}

/** Throws RangeError when `group` is not a group id the layout can hold. */
export function checkGroupId(group: GroupId): void {
  if (!isGroupId(group)) throw new RangeError(`group id ${group} is not an integer in 0..${groupIdMax}`);
}

function groupKey(group: GroupId, record: number, bytes: number): Buffer {
  checkGroupId(group);
  const key = Buffer.alloc(bytes);
  key[0] = groupSpace;
  key.writeUInt32BE(group, 1);
  key[5] = record;
  return key;
}

/** The key of the node's identity record. */
export function identityKey(): Buffer {
  return Buffer.from([nodeSpace, identityRecord]);
}

/** The key of the record saying this node hosts a replica of `group`, with the group's first configuration. */
export function replicaKey(group: GroupId): Buffer {
  return groupKey(group, replicaRecord, groupPrefixBytes);
}

/** The key range holding every record of `group`, for deleting a replica: gte <= key < lt. */
export function groupRange(group: GroupId): { readonly gte: Buffer; readonly lt: Buffer } {
  checkGroupId(group);
  return {
    gte: groupStartKey(group),
    lt: group === groupIdMax ? Buffer.from([groupSpace + 1]) : groupStartKey(group + 1),
  };
}

/** The key of the incarnation pinned for peer `node`. */
export function pinKey(node: string): Buffer {
  return Buffer.concat([Buffer.from([nodeSpace, pinRecord]), Buffer.from(node, 'utf8')]);
}

/** Every pin key: gte <= key < lt. */
export function pinRange(): { readonly gte: Buffer; readonly lt: Buffer } {
  return { gte: Buffer.from([nodeSpace, pinRecord]), lt: Buffer.from([nodeSpace, pinRecord + 1]) };
}

/** The peer a pin key names. */
export function pinNodeOf(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).subarray(2).toString('utf8');
}

/** The key of a group's hard state. Throws RangeError for a group id outside 0 .. groupIdMax. */
export function hardStateKey(group: GroupId): Buffer {
  return groupKey(group, hardStateRecord, groupPrefixBytes);
}

/** The key of a group's snapshot metadata (index, term, voters). */
export function snapshotMetaKey(group: GroupId): Buffer {
  return groupKey(group, snapshotMetaRecord, groupPrefixBytes);
}

/** The key of a group's snapshot data, stored apart from the metadata so bounds can be read cheaply. */
export function snapshotDataKey(group: GroupId): Buffer {
  return groupKey(group, snapshotDataRecord, groupPrefixBytes);
}

/**
 * The key of the entry at `index` in `group`. For one group, byte order of keys equals numeric
 * order of indexes. Throws RangeError for an index that is not a non-negative safe integer.
 */
export function entryKey(group: GroupId, index: Index): Buffer {
  if (!isIndex(index)) throw new RangeError(`entry index ${index} is not a non-negative safe integer`);
  const key = groupKey(group, entryRecord, entryKeyBytes);
  key.writeUInt32BE(Math.floor(index / twoPow32), groupPrefixBytes);
  key.writeUInt32BE(index % twoPow32, groupPrefixBytes + 4);
  return key;
}

/** The key range holding exactly the entries of `group`, for iterators: gte <= key < lt. */
export function entryRange(group: GroupId): { readonly gte: Buffer; readonly lt: Buffer } {
  return {
    gte: groupKey(group, entryRecord, groupPrefixBytes),
    lt: groupKey(group, entryRecord + 1, groupPrefixBytes),
  };
}

/** The index an entry key of `group` names, or null when `key` is not such a key. */
export function entryIndexOf(group: GroupId, key: Uint8Array): Index | null {
  if (key.byteLength !== entryKeyBytes) return null;
  const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  if (k[0] !== groupSpace || k.readUInt32BE(1) !== group || k[5] !== entryRecord) return null;
  const index = k.readUInt32BE(groupPrefixBytes) * twoPow32 + k.readUInt32BE(groupPrefixBytes + 4);
  return isIndex(index) ? index : null;
}

/** The first key of `group`: every record of the group sorts at or after it, before the next group's. */
export function groupStartKey(group: GroupId): Buffer {
  checkGroupId(group);
  const key = Buffer.alloc(5);
  key[0] = groupSpace;
  key.writeUInt32BE(group, 1);
  return key;
}

/** The key range holding the records of every group (and no node record), for iterators. */
export function groupSpaceRange(): { readonly gte: Buffer; readonly lt: Buffer } {
  return { gte: Buffer.from([groupSpace]), lt: Buffer.from([groupSpace + 1]) };
}

/** The group a record key belongs to, or null when `key` is not a record key of any group. */
export function groupIdOf(key: Uint8Array): GroupId | null {
  if (key.byteLength < groupPrefixBytes || key[0] !== groupSpace) return null;
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).readUInt32BE(1);
}
