/**
 * The RaftStore contract as one suite, run against every implementation (LevelStore on a temp
 * directory, MemoryStore). A harness opens a fresh store per test and reopens it as after a clean
 * restart; everything the suite writes is synced, so a reopened store must hold all of it.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Entry, HardState, Snapshot } from '../../../src/raft/types.js';
import type { GroupId, GroupWrite, RaftStore } from '../../../src/storage/raft-store.js';
import { InvalidWriteError, StoreClosedError } from '../../../src/storage/store-errors.js';

/** How the suite gets stores of one implementation. */
export interface StoreHarness<S extends RaftStore> {
  /** A fresh, empty store. */
  open(): Promise<S>;
  /** Closes `store` and opens again what it persisted. */
  reopen(store: S): Promise<S>;
  /** Removes what open() created; the store is already closed. */
  cleanup(): Promise<void>;
}

const encoder = new TextEncoder();

/** An entry whose data is the text `t<term>i<index>` unless given. */
export function entry(index: number, term: number, data?: Uint8Array): Entry {
  return { index, term, kind: 'command', data: data ?? encoder.encode(`t${term}i${index}`) };
}

/** Entries from..to (inclusive), all of `term`. */
export function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

export function snapshot(index: number, term: number, text = `state@${index}`): Snapshot {
  return { meta: { index, term, voters: ['n1', 'n2', 'n3'], learners: [] }, data: encoder.encode(text) };
}

/** A GroupWrite with nothing in it but what `parts` says. */
export function groupWrite(group: GroupId, parts: Partial<Omit<GroupWrite, 'group'>>): GroupWrite {
  return { group, installSnapshot: null, compactSnapshot: null, entries: [], hardState: null, ...parts };
}

export const emptyState = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
const sync = { sync: true } as const;

/** Registers the contract suite for one implementation. */
export function describeStoreContract<S extends RaftStore>(name: string, harness: StoreHarness<S>): void {
  describe(`${name}: RaftStore contract`, () => {
    let store: S;
    beforeEach(async () => {
      store = await harness.open();
    });
    afterEach(async () => {
      await store.close();
      await harness.cleanup();
    });

    it('loads a group never written as the empty state', async () => {
      expect(await store.load(4)).toEqual(emptyState);
    });

    it('round-trips entries and hard state', async () => {
      const hs: HardState = { term: 2, vote: 'n2', commit: 2 };
      const es = [
        entry(1, 1),
        { ...entry(2, 2), kind: 'noop' as const, data: new Uint8Array(0) },
        entry(3, 2),
      ];
      await store.write([groupWrite(0, { entries: es, hardState: hs })], sync);
      expect(await store.load(0)).toEqual({ hardState: hs, snapshot: null, entries: es });
    });

    it('appends continue the stored log and a later hard state replaces the earlier one', async () => {
      await store.write(
        [groupWrite(0, { entries: entries(1, 2, 1), hardState: { term: 1, vote: 'n1', commit: 0 } })],
        sync,
      );
      await store.write([groupWrite(0, { entries: entries(3, 4, 1) })], sync);
      await store.write([groupWrite(0, { hardState: { term: 1, vote: 'n1', commit: 4 } })], { sync: false });
      expect(await store.load(0)).toEqual({
        hardState: { term: 1, vote: 'n1', commit: 4 },
        snapshot: null,
        entries: entries(1, 4, 1),
      });
    });

    it('drops the stored suffix from entries[0].index when entries conflict (§5.3)', async () => {
      await store.write([groupWrite(0, { entries: entries(1, 5, 1) })], sync);
      await store.write([groupWrite(0, { entries: entries(3, 4, 2) })], sync);
      expect((await store.load(0)).entries).toEqual([...entries(1, 2, 1), ...entries(3, 4, 2)]);
    });

    it('truncates within one write when a later GroupWrite of the same group overwrites', async () => {
      await store.write(
        [groupWrite(0, { entries: entries(1, 4, 1) }), groupWrite(0, { entries: entries(2, 2, 3) })],
        sync,
      );
      expect((await store.load(0)).entries).toEqual([entry(1, 1), entry(2, 3)]);
    });

    it('installSnapshot replaces the whole log, and the log continues after it', async () => {
      await store.write(
        [groupWrite(0, { entries: entries(1, 5, 1), hardState: { term: 1, vote: null, commit: 5 } })],
        sync,
      );
      await store.write([groupWrite(0, { installSnapshot: snapshot(10, 3) })], sync);
      expect(await store.load(0)).toEqual({
        hardState: { term: 1, vote: null, commit: 5 },
        snapshot: snapshot(10, 3),
        entries: [],
      });
      await store.write([groupWrite(0, { entries: entries(11, 12, 3) })], sync);
      expect((await store.load(0)).entries).toEqual(entries(11, 12, 3));
    });

    it('installSnapshot below the stored last index still drops every stored entry', async () => {
      await store.write([groupWrite(0, { entries: entries(1, 5, 1) })], sync);
      await store.write(
        [
          groupWrite(0, {
            installSnapshot: snapshot(3, 2),
            entries: entries(4, 4, 2),
            hardState: { term: 2, vote: null, commit: 3 },
          }),
        ],
        sync,
      );
      expect(await store.load(0)).toEqual({
        hardState: { term: 2, vote: null, commit: 3 },
        snapshot: snapshot(3, 2),
        entries: [entry(4, 2)],
      });
    });

    it('compaction drops the entries the snapshot covers and keeps later ones', async () => {
      await store.write([groupWrite(0, { entries: entries(1, 6, 1) })], sync);
      await store.write([groupWrite(0, { compactSnapshot: snapshot(4, 1) })], sync);
      expect(await store.load(0)).toEqual({
        ...emptyState,
        snapshot: snapshot(4, 1),
        entries: entries(5, 6, 1),
      });
      await store.write([groupWrite(0, { compactSnapshot: snapshot(6, 1) })], sync);
      expect(await store.load(0)).toEqual({ ...emptyState, snapshot: snapshot(6, 1), entries: [] });
      await store.write([groupWrite(0, { entries: entries(7, 7, 2) })], sync);
      expect(await store.load(0)).toEqual({
        ...emptyState,
        snapshot: snapshot(6, 1),
        entries: [entry(7, 2)],
      });
    });

    it('compaction comes after the entries of the same write', async () => {
      await store.write([groupWrite(0, { entries: entries(1, 3, 1) })], sync);
      await store.write(
        [groupWrite(0, { entries: entries(4, 6, 1), compactSnapshot: snapshot(5, 1) })],
        sync,
      );
      expect(await store.load(0)).toEqual({
        ...emptyState,
        snapshot: snapshot(5, 1),
        entries: [entry(6, 1)],
      });
    });

    it('keeps several groups of one write separate, including ids that share low bytes', async () => {
      const groups = [0, 1, 256, 2 ** 32 - 1];
      await store.write(
        groups.map((g, k) =>
          groupWrite(g, {
            entries: entries(1, k + 1, g % 7),
            hardState: { term: g % 7, vote: `n${k}`, commit: 1 },
          }),
        ),
        sync,
      );
      for (const [k, g] of groups.entries()) {
        expect(await store.load(g)).toEqual({
          hardState: { term: g % 7, vote: `n${k}`, commit: 1 },
          snapshot: null,
          entries: entries(1, k + 1, g % 7),
        });
      }
      expect(await store.load(2)).toEqual(emptyState);
      await store.write([groupWrite(1, { installSnapshot: snapshot(9, 9) })], sync);
      expect((await store.load(0)).entries).toEqual(entries(1, 1, 0));
      expect((await store.load(256)).entries).toEqual(entries(1, 3, 256 % 7));
    });

    it('reopening returns exactly what was written', async () => {
      const hs0: HardState = { term: 3, vote: 'n3', commit: 7 };
      await store.write([groupWrite(0, { entries: entries(1, 8, 3), hardState: hs0 })], sync);
      await store.write(
        [groupWrite(0, { compactSnapshot: snapshot(5, 3) }), groupWrite(5, { entries: entries(1, 2, 1) })],
        sync,
      );
      await store.write([groupWrite(0, { entries: entries(7, 9, 4) })], sync);
      await store.setIdentity({
        clusterId: 'c1',
        nodeId: 'n3',
        format: 1,
        incarnation: 'i1',
        start: 'member',
      });
      store = await harness.reopen(store);
      expect(await store.identity()).toEqual({
        clusterId: 'c1',
        nodeId: 'n3',
        format: 1,
        incarnation: 'i1',
        start: 'member',
      });
      expect(await store.load(0)).toEqual({
        hardState: hs0,
        snapshot: snapshot(5, 3),
        entries: [entry(6, 3), ...entries(7, 9, 4)],
      });
      expect(await store.load(5)).toEqual({ ...emptyState, entries: entries(1, 2, 1) });
      await store.write([groupWrite(0, { entries: entries(8, 8, 5) })], sync);
      expect((await store.load(0)).entries).toEqual([entry(6, 3), entry(7, 4), entry(8, 5)]);
    });

    it('records the identity and reads it back', async () => {
      expect(await store.identity()).toBe(null);
      await store.setIdentity({
        clusterId: 'prod',
        nodeId: 'n2',
        format: 1,
        incarnation: 'i1',
        start: 'member',
      });
      expect(await store.identity()).toEqual({
        clusterId: 'prod',
        nodeId: 'n2',
        format: 1,
        incarnation: 'i1',
        start: 'member',
      });
    });

    it('records replicas, lists them after a reopen, and deletes every record of one replica', async () => {
      const first = { initial: { voters: ['n1', 'n2', 'n3'], learners: [] }, joinedAfter: 0 };
      const joined = { initial: { voters: ['n1', 'n2'], learners: ['n3'] }, joinedAfter: 41 };
      await store.createReplica(0, first);
      await store.createReplica(7, joined);
      await store.write(
        [
          groupWrite(0, { entries: entries(1, 3, 1), hardState: { term: 1, vote: 'n1', commit: 3 } }),
          groupWrite(7, { installSnapshot: snapshot(41, 2), entries: entries(42, 43, 2) }),
        ],
        sync,
      );
      store = await harness.reopen(store);
      expect(new Map(await store.replicas())).toEqual(
        new Map([
          [0, first],
          [7, joined],
        ]),
      );
      await store.deleteReplica(0);
      expect([...(await store.replicas()).keys()]).toEqual([7]);
      expect(await store.load(0)).toEqual(emptyState);
      store = await harness.reopen(store);
      expect(await store.load(0)).toEqual(emptyState);
      expect((await store.load(7)).entries).toEqual(entries(42, 43, 2));
      // A replica created again after its deletion starts from nothing.
      await store.createReplica(0, joined);
      await store.write([groupWrite(0, { entries: entries(1, 1, 5) })], sync);
      expect((await store.load(0)).entries).toEqual(entries(1, 1, 5));
    });

    it('records the incarnation pinned for each peer and keeps the latest', async () => {
      expect(new Map(await store.pins())).toEqual(new Map());
      await store.setPin('n2', 'aaaa');
      await store.setPin('node-ü', 'bbbb');
      await store.setPin('n2', 'cccc');
      store = await harness.reopen(store);
      expect(new Map(await store.pins())).toEqual(
        new Map([
          ['n2', 'cccc'],
          ['node-ü', 'bbbb'],
        ]),
      );
    });

    it('round-trips 1 MiB of entry data and of snapshot data', async () => {
      const big = new Uint8Array(1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
      const snap: Snapshot = { meta: { index: 1, term: 1, voters: ['n1'], learners: [] }, data: big };
      await store.write(
        [groupWrite(0, { installSnapshot: snap, entries: [entry(2, 1, big), entry(3, 1, big)] })],
        sync,
      );
      const loaded = await store.load(0);
      // Deep equality over a million elements is slow; compare the bytes as buffers instead.
      const same = (data: Uint8Array | undefined) => data !== undefined && Buffer.compare(data, big) === 0;
      expect(loaded.entries.map((e) => [e.index, e.term, e.kind, same(e.data)])).toEqual([
        [2, 1, 'command', true],
        [3, 1, 'command', true],
      ]);
      expect([loaded.snapshot?.meta, same(loaded.snapshot?.data)]).toEqual([snap.meta, true]);
      expect(loaded.hardState).toEqual(emptyState.hardState);
    });

    it('neither a caller mutating what it wrote nor what it loaded changes the stored state', async () => {
      const data = encoder.encode('abc');
      const snap = snapshot(0, 0);
      await store.write([groupWrite(0, { installSnapshot: snap, entries: [entry(1, 1, data)] })], sync);
      data[0] = 0x7a;
      snap.data[0] = 0x7a;
      const first = await store.load(0);
      expect(first.entries[0]!.data).toEqual(encoder.encode('abc'));
      expect(first.snapshot).toEqual(snapshot(0, 0));
      first.entries[0]!.data[1] = 0x7a;
      first.snapshot!.data[1] = 0x7a;
      const second = await store.load(0);
      expect(second.entries).toEqual([entry(1, 1, encoder.encode('abc'))]);
      expect(second.snapshot).toEqual(snapshot(0, 0));
    });

    it.each([
      [
        'a gap after the stored log',
        [groupWrite(0, { entries: entries(5, 5, 1) })],
        'entries from 5 leave a gap after the stored log (last 2)',
      ],
      [
        'entries that are not contiguous',
        [groupWrite(0, { entries: [entry(3, 1), entry(5, 1)] })],
        'entries not contiguous at 4',
      ],
      [
        'a compaction beyond the log',
        [groupWrite(0, { compactSnapshot: snapshot(3, 1) })],
        'compaction at 3 is beyond the stored log (last 2)',
      ],
      [
        'an overwrite of the snapshot',
        [groupWrite(0, { installSnapshot: snapshot(4, 1), entries: entries(4, 4, 1) })],
        'entries from 4 overwrite the snapshot at 4',
      ],
    ])('rejects %s with InvalidWriteError and stores nothing of the batch', async (_, bad, reason) => {
      await store.write([groupWrite(0, { entries: entries(1, 2, 1) })], sync);
      const batch = [groupWrite(1, { entries: entries(1, 1, 1) }), ...bad];
      await expect(store.write(batch, sync)).rejects.toThrow(new InvalidWriteError(0, reason));
      expect(await store.load(0)).toEqual({ ...emptyState, entries: entries(1, 2, 1) });
      expect(await store.load(1)).toEqual(emptyState);
    });

    it('refuses group ids the key layout cannot hold', async () => {
      await expect(store.write([groupWrite(-1, { entries: entries(1, 1, 1) })], sync)).rejects.toThrow(
        new InvalidWriteError(-1, 'group id is not an integer in 0..4294967295'),
      );
      await expect(store.load(2 ** 32)).rejects.toThrow(
        new RangeError('group id 4294967296 is not an integer in 0..4294967295'),
      );
    });

    it('rejects every call after close() with StoreClosedError', async () => {
      await store.close();
      await expect(store.load(0)).rejects.toThrow(StoreClosedError);
      await expect(store.write([groupWrite(0, { entries: entries(1, 1, 1) })], sync)).rejects.toThrow(
        StoreClosedError,
      );
      await expect(store.identity()).rejects.toThrow(StoreClosedError);
    });
  });
}
