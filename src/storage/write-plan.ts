/**
 * What one GroupWrite does to a group's stored log, worked out once for both stores so LevelStore
 * and MemoryStore cannot drift apart: the contract checks, the ordered steps (install, entries,
 * hard state, compaction) and the log bounds after them. Pure; it neither reads nor writes.
 */

import type { Entry, HardState, Index, Snapshot } from '../raft/types.js';
import { entryKinds } from './codec.js';
import { groupIdMax, isGroupId, isIndex } from './keys.js';
import type { GroupId, GroupWrite } from './raft-store.js';
import { InvalidWriteError } from './store-errors.js';

/**
 * Where a group's stored log lies.
 * Invariant: the stored entries are exactly firstIndex..lastIndex, none when lastIndex < firstIndex;
 * in a well-formed store firstIndex === snapshotIndex + 1, so an empty log has lastIndex === snapshotIndex.
 */
export interface LogBounds {
  readonly snapshotIndex: Index;
  readonly firstIndex: Index;
  readonly lastIndex: Index;
}

/** One change to a group's stored state; a store carries out the steps of a plan in order. */
export type WriteStep =
  /** Delete the stored entries from..to (inclusive; never empty, always within the stored log). */
  | { readonly kind: 'deleteEntries'; readonly from: Index; readonly to: Index }
  /** Store these entries; they continue the stored log (or start it after the snapshot). */
  | { readonly kind: 'putEntries'; readonly entries: readonly Entry[] }
  | { readonly kind: 'putHardState'; readonly hardState: HardState }
  /** Replace the stored snapshot. */
  | { readonly kind: 'putSnapshot'; readonly snapshot: Snapshot };

/** The steps of one GroupWrite and the bounds they leave behind. */
export interface WritePlan {
  readonly steps: readonly WriteStep[];
  readonly bounds: LogBounds;
}

/**
 * Plans `write` against a group whose stored log lies at `bounds`, in the order of the GroupWrite
 * contract: installSnapshot, entries, hardState, compactSnapshot. Throws InvalidWriteError when
 * the write would leave a log that is not contiguous after its snapshot; the caller must then
 * store nothing of the whole batch.
 */
export function planGroupWrite(bounds: LogBounds, write: GroupWrite): WritePlan {
  const { group } = write;
  const fail = (reason: string) => new InvalidWriteError(group, reason);
  checkWriteGroup(group);
  const steps: WriteStep[] = [];
  let b = bounds;
  const deleteStored = (from: Index, to: Index) => {
    const lo = Math.max(from, b.firstIndex);
    const hi = Math.min(to, b.lastIndex);
    if (lo <= hi) steps.push({ kind: 'deleteEntries', from: lo, to: hi });
  };

  if (write.installSnapshot !== null) {
    const { index } = write.installSnapshot.meta;
    checkSnapshot(write.installSnapshot, fail);
    deleteStored(b.firstIndex, b.lastIndex);
    steps.push({ kind: 'putSnapshot', snapshot: write.installSnapshot });
    b = { snapshotIndex: index, firstIndex: index + 1, lastIndex: index };
  }

  const { entries } = write;
  const first = entries[0];
  const last = entries.at(-1);
  if (first !== undefined && last !== undefined) {
    entries.forEach((e, k) => {
      if (!isIndex(e.index) || !isIndex(e.term)) throw fail(`entry ${e.index} has a bad index or term`);
      if (!entryKinds.includes(e.kind)) throw fail(`entry ${e.index} has unknown kind`);
      if (e.index !== first.index + k) throw fail(`entries not contiguous at ${first.index + k}`);
    });
    if (first.index <= b.snapshotIndex) {
      throw fail(`entries from ${first.index} overwrite the snapshot at ${b.snapshotIndex}`);
    }
    if (first.index > b.lastIndex + 1) {
      throw fail(`entries from ${first.index} leave a gap after the stored log (last ${b.lastIndex})`);
    }
    deleteStored(first.index, b.lastIndex);
    steps.push({ kind: 'putEntries', entries });
    b = {
      snapshotIndex: b.snapshotIndex,
      firstIndex: Math.min(b.firstIndex, first.index),
      lastIndex: last.index,
    };
  }

  if (write.hardState !== null) {
    const hs = write.hardState;
    if (!isIndex(hs.term) || !isIndex(hs.commit)) throw fail('hard state has a bad term or commit');
    steps.push({ kind: 'putHardState', hardState: hs });
  }

  if (write.compactSnapshot !== null) {
    const { index } = write.compactSnapshot.meta;
    checkSnapshot(write.compactSnapshot, fail);
    if (index < b.snapshotIndex) {
      throw fail(`compaction at ${index} is older than the stored snapshot at ${b.snapshotIndex}`);
    }
    if (index > b.lastIndex)
      throw fail(`compaction at ${index} is beyond the stored log (last ${b.lastIndex})`);
    deleteStored(b.firstIndex, index);
    steps.push({ kind: 'putSnapshot', snapshot: write.compactSnapshot });
    b = { snapshotIndex: index, firstIndex: index + 1, lastIndex: b.lastIndex };
  }

  return { steps, bounds: b };
}

/** Throws InvalidWriteError when `group` is not a group id the key layout can hold. */
export function checkWriteGroup(group: GroupId): void {
  if (!isGroupId(group)) throw new InvalidWriteError(group, `group id is not an integer in 0..${groupIdMax}`);
}

function checkSnapshot(snapshot: Snapshot, fail: (reason: string) => InvalidWriteError): void {
  const { index, term } = snapshot.meta;
  if (!isIndex(index) || !isIndex(term)) throw fail(`snapshot at ${index} has a bad index or term`);
}
