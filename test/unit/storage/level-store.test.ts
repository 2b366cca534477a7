import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodeEntry } from '../../../src/storage/codec.js';
import { entryKey, entryRange, hardStateKey } from '../../../src/storage/keys.js';
import { LevelStore } from '../../../src/storage/level-store.js';
import { storeFormat } from '../../../src/storage/raft-store.js';
import { StoreCorruptError, StoreFailedError, StoreFormatError } from '../../../src/storage/store-errors.js';
import { type RawDb, withRawDb as withRawDbAt } from './raw-db.js';
import { describeStoreContract, emptyState, entries, entry, groupWrite, snapshot } from './store-contract.js';

let dir = '';

async function freshDir(): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), 'raftkv-level-store-'));
  return dir;
}

describeStoreContract('LevelStore', {
  open: async () => LevelStore.open(await freshDir()),
  reopen: async (store) => {
    await store.close();
    return LevelStore.open(dir);
  },
  cleanup: () => rm(dir, { recursive: true, force: true }),
});

/** Opens the raw database under a closed store, for writing damage into it. */
const withRawDb = (fn: (db: RawDb) => Promise<unknown>) => withRawDbAt(dir, fn);

type ChainedBatch = ReturnType<Level<Buffer, Buffer>['batch']>;

/**
 * Watches every batch the store writes: `onWrite` gets the chained batch, the options of its
 * write, and the real write to call (or not).
 */
function spyOnBatchWrites(
  onWrite: (chained: ChainedBatch, opts: unknown, write: () => Promise<void>) => Promise<void>,
) {
  const original = Level.prototype.batch as (this: Level<Buffer, Buffer>) => ChainedBatch;
  return vi.spyOn(Level.prototype, 'batch').mockImplementation(function (this: Level<Buffer, Buffer>) {
    const chained = original.call(this);
    const write = chained.write.bind(chained) as (opts?: unknown) => Promise<void>;
    chained.write = ((opts?: unknown) => onWrite(chained, opts, () => write(opts))) as ChainedBatch['write'];
    return chained;
  } as typeof Level.prototype.batch);
}

describe('LevelStore on disk', () => {
  let store: LevelStore;
  beforeEach(async () => {
    store = await LevelStore.open(await freshDir());
    await store.write(
      [groupWrite(3, { entries: entries(1, 4, 1), hardState: { term: 1, vote: 'n1', commit: 4 } })],
      {
        sync: true,
      },
    );
    await store.close();
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('detects garbage bytes at an entry key on load', async () => {
    await withRawDb((db) => db.put(entryKey(3, 2), Buffer.from('garbage!')));
    store = await LevelStore.open(dir);
    const load = store.load(3);
    await expect(load).rejects.toThrow(StoreCorruptError);
    await expect(load).rejects.toMatchObject({ group: 3, record: 'entry', index: 2 });
  });

  it('detects a flipped byte inside an entry by its checksum', async () => {
    await withRawDb(async (db) => {
      const value = await db.get(entryKey(3, 3));
      value![value!.length - 1]! ^= 0x01;
      await db.put(entryKey(3, 3), value!);
    });
    store = await LevelStore.open(dir);
    await expect(store.load(3)).rejects.toThrow(
      /^store corrupt: group 3 entry 3: checksum mismatch \(stored [0-9a-f]{8}, computed [0-9a-f]{8}\)$/,
    );
  });

  it('detects an entry stored under another index', async () => {
    await withRawDb((db) => db.put(entryKey(3, 2), encodeEntry(entry(3, 1))));
    store = await LevelStore.open(dir);
    await expect(store.load(3)).rejects.toThrow(new StoreCorruptError(3, 'entry', 2, 'value holds index 3'));
  });

  it('detects a gap in the log', async () => {
    await withRawDb((db) => db.del(entryKey(3, 2)));
    store = await LevelStore.open(dir);
    await expect(store.load(3)).rejects.toThrow(new StoreCorruptError(3, 'log', 2, 'missing entry'));
  });

  it('detects a damaged hard state', async () => {
    await withRawDb((db) => db.put(hardStateKey(3), Buffer.from([1, 2])));
    store = await LevelStore.open(dir);
    await expect(store.load(3)).rejects.toThrow(
      new StoreCorruptError(3, 'hardState', null, 'value of 2 bytes has no checksum'),
    );
  });

  it('learns the stored bounds on the first write after a restart, without a load', async () => {
    store = await LevelStore.open(dir);
    await store.write([groupWrite(3, { entries: entries(3, 3, 2) })], { sync: true });
    await store.write([groupWrite(3, { compactSnapshot: snapshot(2, 1) })], { sync: true });
    expect(await store.load(3)).toEqual({
      hardState: { term: 1, vote: 'n1', commit: 4 },
      snapshot: snapshot(2, 1),
      entries: [entry(3, 2)],
    });
    await store.close();
    store = await LevelStore.open(dir);
    await store.write([groupWrite(3, { installSnapshot: snapshot(9, 3) })], { sync: true });
    await store.close();
    let keyCount = -1;
    await withRawDb(async (db) => {
      keyCount = (await db.keys(entryRange(3)).all()).length;
    });
    expect(keyCount).toBe(0);
  });

  it('hands the sync flag to LevelDB in one batch for all groups', async () => {
    store = await LevelStore.open(dir);
    const written: [number, unknown][] = [];
    const batch = spyOnBatchWrites((chained, opts, write) => {
      written.push([chained.length, opts]);
      return write();
    });
    try {
      await store.write(
        [groupWrite(3, { entries: entries(5, 5, 1) }), groupWrite(4, { entries: entries(1, 1, 1) })],
        {
          sync: true,
        },
      );
      await store.write([groupWrite(4, { hardState: { term: 1, vote: null, commit: 1 } })], { sync: false });
      expect(written).toEqual([
        [2, { sync: true }],
        [1, { sync: false }],
      ]);
    } finally {
      batch.mockRestore();
    }
  });

  it('rejects a failed batch and every write after it', async () => {
    store = await LevelStore.open(dir);
    const diskFull = new Error('IO error: No space left on device');
    let failed = false;
    const batch = spyOnBatchWrites(async (chained, _opts, write) => {
      if (failed) return write();
      failed = true;
      await chained.close();
      throw diskFull;
    });
    try {
      await expect(store.write([groupWrite(3, { entries: entries(5, 5, 1) })], { sync: true })).rejects.toBe(
        diskFull,
      );
      const next = store.write([groupWrite(3, { entries: entries(5, 5, 1) })], { sync: true });
      await expect(next).rejects.toThrow(StoreFailedError);
      await expect(next).rejects.toMatchObject({ cause: diskFull });
      expect(await store.load(3)).toEqual({
        hardState: { term: 1, vote: 'n1', commit: 4 },
        snapshot: null,
        entries: entries(1, 4, 1),
      });
    } finally {
      batch.mockRestore();
    }
  });

  it('refuses to open a directory of a newer format', async () => {
    store = await LevelStore.open(dir);
    await store.setIdentity({
      clusterId: 'c',
      nodeId: 'n1',
      format: storeFormat + 1,
      incarnation: 'i1',
      start: 'member',
    });
    await store.close();
    await expect(LevelStore.open(dir)).rejects.toThrow(
      `store format ${storeFormat + 1} is newer than this build's format ${storeFormat}`,
    );
    await expect(LevelStore.open(dir)).rejects.toThrow(StoreFormatError);
  });

  it('a group never written stays empty next to a written one', async () => {
    store = await LevelStore.open(dir);
    expect(await store.load(2)).toEqual(emptyState);
    expect(await store.load(4)).toEqual(emptyState);
  });
});
