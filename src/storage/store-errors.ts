/**
 * The errors a RaftStore throws, one class per condition. All of them are fatal to the node: a
 * store that is corrupt, misused, failed or closed cannot be trusted with Raft's durable state.
 * Expected outcomes (a group never written, a new store) are values, never errors.
 */

import type { Index } from '../raft/types.js';
import type { GroupId } from './raft-store.js';

/**
 * The kinds of record a store keeps, as named in errors; 'files' stands for the database's own
 * files (LevelDB's CURRENT, MANIFEST, tables and write-ahead logs) rather than one record.
 */
export type StoreRecord = 'identity' | 'replica' | 'hardState' | 'snapshot' | 'entry' | 'log' | 'files';

/**
 * A stored record failed its checksum, could not be decoded, or the log has a gap; or the
 * database's own files are damaged ('files'). `group` is null for the node's identity and for
 * 'files'; `index` names the entry (or, for 'log', the missing index).
 */
export class StoreCorruptError extends Error {
  override readonly name = 'StoreCorruptError';
  /** What is damaged and how, without the "store corrupt: " lead: for messages that say it their way. */
  readonly detail: string;
  constructor(
    readonly group: GroupId | null,
    readonly record: StoreRecord,
    readonly index: Index | null,
    readonly reason: string,
  ) {
    const where = group === null ? record : `group ${group} ${record}`;
    const detail = record === 'files' ? reason : `${where}${index === null ? '' : ` ${index}`}: ${reason}`;
    super(`store corrupt: ${detail}`);
    this.detail = detail;
  }
}

/**
 * A GroupWrite breaks the Ready contract (entries not contiguous, a gap after the stored log, an
 * overwrite below the snapshot, a compaction outside the log). Nothing of the write was stored.
 */
export class InvalidWriteError extends Error {
  override readonly name = 'InvalidWriteError';
  constructor(
    readonly group: GroupId,
    reason: string,
  ) {
    super(`invalid write to group ${group}: ${reason}`);
  }
}

/** An earlier write failed; the store takes no more writes. `cause` is that first failure. */
export class StoreFailedError extends Error {
  override readonly name = 'StoreFailedError';
  constructor(cause: unknown) {
    super('store failed: an earlier write failed, no more writes are taken', { cause });
  }
}

/** The store was closed (or, for MemoryStore, crashed) and takes no more calls. */
export class StoreClosedError extends Error {
  override readonly name = 'StoreClosedError';
  constructor() {
    super('store closed');
  }
}

/** The data directory was written in a newer on-disk format than this build's `storeFormat`. */
export class StoreFormatError extends Error {
  override readonly name = 'StoreFormatError';
  constructor(
    readonly found: number,
    readonly expected: number,
  ) {
    super(`store format ${found} is newer than this build's format ${expected}`);
  }
}
