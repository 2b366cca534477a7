import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../../src/storage/memory-store.js';
import { StoreFailedError } from '../../../src/storage/store-errors.js';
import { describeStoreFailure } from '../../../src/storage/store-failure.js';
import { FailingStore } from './failing-store.js';
import { emptyState, entries, groupWrite } from './store-contract.js';

describe('FailingStore, the sick disk of the tests', () => {
  it('fails the next write with an errno error as Node reports it, stores nothing, and refuses every write after', async () => {
    const inner = new MemoryStore();
    const disk = new FailingStore(inner);
    await disk.write([groupWrite(0, { entries: entries(1, 1, 1) })], { sync: true });
    disk.failNextWrite('ENOSPC');
    const failed = disk.write([groupWrite(0, { entries: entries(2, 2, 1) })], { sync: false });
    await expect(failed).rejects.toMatchObject({
      message: 'ENOSPC: no space left on device, write',
      code: 'ENOSPC',
      errno: -28,
      syscall: 'write',
    });
    const next = disk.write([groupWrite(0, { entries: entries(2, 2, 1) })], { sync: true });
    await expect(next).rejects.toThrow(StoreFailedError);
    await expect(next).rejects.toMatchObject({ cause: disk.failure });
    expect(await disk.load(0)).toEqual({ ...emptyState, entries: entries(1, 1, 1) });
    expect(describeStoreFailure(await next.catch((e: unknown) => e))).toBe('ENOSPC: no space left on device');
  });

  it('fails the next fsync after the write reached the store unsynced, so a crash loses it', async () => {
    const inner = new MemoryStore();
    const disk = new FailingStore(inner);
    await disk.write([groupWrite(0, { entries: entries(1, 1, 1) })], { sync: true });
    disk.failNextSync('EIO');
    // A write without sync passes: only a sync fails.
    await disk.write([groupWrite(0, { entries: entries(2, 2, 1) })], { sync: false });
    await expect(
      disk.write([groupWrite(0, { entries: entries(3, 3, 1) })], { sync: true }),
    ).rejects.toMatchObject({ message: 'EIO: i/o error, fsync', code: 'EIO', syscall: 'fsync' });
    expect((await disk.load(0)).entries).toEqual(entries(1, 3, 1));
    expect((await inner.crash().load(0)).entries).toEqual(entries(1, 1, 1));
    expect({ writes: disk.writes, syncs: disk.syncs }).toEqual({ writes: 3, syncs: 1 });
  });
});
