/**
 * A sick disk, for tests: wraps any RaftStore and, on command, fails its next write or its next
 * fsync with an errno error as Node reports them (`code` ENOSPC, EIO, ...). A failed write stores
 * nothing; a failed fsync leaves the write in the inner store but not synced (with a MemoryStore
 * inside, a crash loses it). After either, every write rejects with StoreFailedError, as
 * LevelStore does after a failed batch. Reads pass through untouched.
 */

import { constants } from 'node:os';
import type { DurableState } from '../../../src/raft/types.js';
import type {
  GroupId,
  GroupWrite,
  RaftStore,
  ReplicaRecord,
  StoreIdentity,
} from '../../../src/storage/raft-store.js';
import { StoreFailedError } from '../../../src/storage/store-errors.js';

/** The errno codes a disk fails with in these tests, and their strerror text. */
export type DiskErrorCode = 'ENOSPC' | 'EIO' | 'EROFS' | 'EDQUOT';

const texts: Record<DiskErrorCode, string> = {
  ENOSPC: 'no space left on device',
  EIO: 'i/o error',
  EROFS: 'read-only file system',
  EDQUOT: 'disk quota exceeded',
};

/** An error shaped as Node's fs errors: `ENOSPC: no space left on device, write`, code, errno, syscall. */
export function diskError(code: DiskErrorCode, syscall: 'write' | 'fsync'): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${texts[code]}, ${syscall}`), {
    code,
    errno: -constants.errno[code],
    syscall,
  });
}

export class FailingStore implements RaftStore {
  readonly #inner: RaftStore;
  #armed: { readonly code: DiskErrorCode; readonly on: 'write' | 'fsync' } | null = null;
  #failure: Error | null = null;
  /** Writes that reached the inner store (with changes or not), and how many of them synced. */
  writes = 0;
  syncs = 0;

  constructor(inner: RaftStore) {
    this.#inner = inner;
  }

  /** The next write (any write, synced or not) rejects with `code` and stores nothing. */
  failNextWrite(code: DiskErrorCode): void {
    this.#armed = { code, on: 'write' };
  }

  /** The next synced write reaches the inner store unsynced, then rejects with `code`. */
  failNextSync(code: DiskErrorCode): void {
    this.#armed = { code, on: 'fsync' };
  }

  /** The error the store failed with, once it did. */
  get failure(): Error | null {
    return this.#failure;
  }

  identity(): Promise<StoreIdentity | null> {
    return this.#inner.identity();
  }

  setIdentity(identity: StoreIdentity): Promise<void> {
    return this.#inner.setIdentity(identity);
  }

  pins(): Promise<ReadonlyMap<string, string>> {
    return this.#inner.pins();
  }

  setPin(node: string, incarnation: string): Promise<void> {
    return this.#inner.setPin(node, incarnation);
  }

  replicas(): Promise<ReadonlyMap<GroupId, ReplicaRecord>> {
    return this.#inner.replicas();
  }

  createReplica(group: GroupId, record: ReplicaRecord): Promise<void> {
    return this.#inner.createReplica(group, record);
  }

  deleteReplica(group: GroupId): Promise<void> {
    return this.#inner.deleteReplica(group);
  }

  load(group: GroupId): Promise<DurableState> {
    return this.#inner.load(group);
  }

  async write(writes: readonly GroupWrite[], opts: { readonly sync: boolean }): Promise<void> {
    if (this.#failure !== null) throw new StoreFailedError(this.#failure);
    const armed = this.#armed;
    if (armed?.on === 'write') return this.#fail(diskError(armed.code, 'write'));
    if (armed?.on === 'fsync' && opts.sync) {
      await this.#inner.write(writes, { sync: false });
      this.writes++;
      return this.#fail(diskError(armed.code, 'fsync'));
    }
    await this.#inner.write(writes, opts);
    this.writes++;
    if (opts.sync) this.syncs++;
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  #fail(err: Error): never {
    this.#armed = null;
    this.#failure = err;
    throw err;
  }
}
