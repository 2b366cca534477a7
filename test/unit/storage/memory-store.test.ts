import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../../src/storage/memory-store.js';
import { StoreClosedError, StoreFailedError } from '../../../src/storage/store-errors.js';
import { describeStoreContract, emptyState, entries, groupWrite, snapshot } from './store-contract.js';

describeStoreContract('MemoryStore', {
  open: async () => new MemoryStore(),
  reopen: async (store) => store.crash(),
  cleanup: async () => undefined,
});

describe('MemoryStore crash', () => {
  it('loses writes made without sync after the last synced write', async () => {
    const store = new MemoryStore();
    await store.write(
      [groupWrite(0, { entries: entries(1, 2, 1), hardState: { term: 1, vote: 'n1', commit: 0 } })],
      {
        sync: true,
      },
    );
    await store.write([groupWrite(0, { hardState: { term: 1, vote: 'n1', commit: 2 } })], { sync: false });
    expect((await store.load(0)).hardState).toEqual({ term: 1, vote: 'n1', commit: 2 });
    const after = store.crash();
    expect(await after.load(0)).toEqual({
      hardState: { term: 1, vote: 'n1', commit: 0 },
      snapshot: null,
      entries: entries(1, 2, 1),
    });
  });

  it('a synced write makes the unsynced writes before it durable too', async () => {
    const store = new MemoryStore();
    await store.write([groupWrite(0, { entries: entries(1, 3, 1) })], { sync: false });
    await store.write([groupWrite(3, { compactSnapshot: null, installSnapshot: snapshot(5, 2) })], {
      sync: false,
    });
    await store.write([groupWrite(0, { entries: entries(3, 3, 2) })], { sync: true });
    await store.write([groupWrite(0, { entries: entries(4, 4, 2) })], { sync: false });
    const after = store.crash();
    expect(await after.load(0)).toEqual({
      ...emptyState,
      entries: [...entries(1, 2, 1), ...entries(3, 3, 2)],
    });
    expect(await after.load(3)).toEqual({ ...emptyState, snapshot: snapshot(5, 2) });
  });

  it('keeps the identity, which is always synced', async () => {
    const store = new MemoryStore();
    await store.setIdentity({ clusterId: 'c', nodeId: 'n1', format: 1, incarnation: 'i1', start: 'member' });
    expect(await store.crash().identity()).toEqual({
      clusterId: 'c',
      nodeId: 'n1',
      format: 1,
      incarnation: 'i1',
      start: 'member',
    });
  });

  it('closes the crashed store', async () => {
    const store = new MemoryStore();
    store.crash();
    await expect(store.load(0)).rejects.toThrow(StoreClosedError);
  });

  it('a crash of a crashed store loses nothing more', async () => {
    const store = new MemoryStore();
    await store.write([groupWrite(2, { entries: entries(1, 1, 1) })], { sync: true });
    const twice = store.crash().crash();
    expect(await twice.load(2)).toEqual({ ...emptyState, entries: entries(1, 1, 1) });
  });
});

describe('MemoryStore failNextWrite', () => {
  it('rejects the next write, stores nothing of it, and refuses every write after it', async () => {
    const store = new MemoryStore();
    await store.write([groupWrite(0, { entries: entries(1, 1, 1) })], { sync: true });
    const diskFull = new Error('ENOSPC');
    store.failNextWrite(diskFull);
    await expect(store.write([groupWrite(0, { entries: entries(2, 2, 1) })], { sync: true })).rejects.toBe(
      diskFull,
    );
    const next = store.write([groupWrite(0, { entries: entries(2, 2, 1) })], { sync: true });
    await expect(next).rejects.toThrow(StoreFailedError);
    await expect(next).rejects.toMatchObject({ cause: diskFull });
    expect(await store.load(0)).toEqual({ ...emptyState, entries: entries(1, 1, 1) });
  });
});
