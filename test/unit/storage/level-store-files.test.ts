/**
 * LevelStore refuses a data directory whose files are damaged, rather than let LevelDB repair it
 * quietly (issue #8): CURRENT missing, a damaged write-ahead log, a truncated manifest or table,
 * a damaged entry (found by verify() at start-up), a lost identity. Damage is done to real files.
 */

import { mkdtemp, readdir, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entryKey, identityKey } from '../../../src/storage/keys.js';
import { LevelStore } from '../../../src/storage/level-store.js';
import { StoreCorruptError } from '../../../src/storage/store-errors.js';
import { type RawDb, withRawDb as withRawDbAt } from './raw-db.js';
import { entries, groupWrite } from './store-contract.js';

let dir = '';

const data = (index: number) => new Uint8Array(2_000).fill(index % 251);
const bigEntries = (from: number, to: number) =>
  entries(from, to, 1).map((e) => ({ ...e, data: data(e.index) }));

/**
 * A store of three groups whose older entries sit in a table and newer ones in the write-ahead
 * log: written, reopened (LevelDB turns the log into a table), written again.
 */
async function storeWithTableAndLog(): Promise<void> {
  let store = await LevelStore.open(dir);
  await store.setIdentity({ clusterId: 'c', nodeId: 'n1', format: 1, incarnation: 'i1', start: 'member' });
  for (const g of [0, 1, 2]) {
    await store.write(
      [groupWrite(g, { entries: bigEntries(1, 50), hardState: { term: 1, vote: 'n1', commit: 50 } })],
      {
        sync: true,
      },
    );
  }
  await store.close();
  await (await LevelStore.open(dir)).close();
  store = await LevelStore.open(dir);
  for (const g of [0, 1, 2]) {
    await store.write(
      [groupWrite(g, { entries: bigEntries(51, 60), hardState: { term: 1, vote: 'n1', commit: 60 } })],
      {
        sync: true,
      },
    );
  }
  await store.close();
}

async function file(pattern: RegExp): Promise<string> {
  const name = (await readdir(dir)).find((n) => pattern.test(n));
  if (name === undefined) throw new Error(`no file ${pattern} in ${dir}`);
  return join(dir, name);
}

/** What LevelStore.open() rejects with, as the StoreCorruptError's detail. */
async function refusal(): Promise<string> {
  const err = await LevelStore.open(dir).then(
    async (s) => {
      await s.close();
      return null;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreCorruptError);
  return (err as StoreCorruptError).detail;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'raftkv-level-files-'));
  await storeWithTableAndLog();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('LevelStore.open refuses damaged LevelDB files', () => {
  it('opens and verifies the undamaged store, with a table and a log', async () => {
    const names = await readdir(dir);
    expect(names.filter((n) => /\.(ldb|log)$/.test(n)).map((n) => n.slice(-3))).toEqual(['ldb', 'log']);
    const store = await LevelStore.open(dir);
    await store.verify();
    expect((await store.load(1)).entries.map((e) => e.index)).toEqual(bigEntries(1, 60).map((e) => e.index));
    await store.close();
  });

  it('CURRENT missing: refused, and every file left where it was (LevelDB would start afresh and delete the tables)', async () => {
    await unlink(join(dir, 'CURRENT'));
    const before = (await readdir(dir)).sort();
    expect(await refusal()).toMatch(
      /^CURRENT is missing next to \d{6}\.ldb, \d{6}\.log, MANIFEST-\d{6} \(LevelDB would start an empty database over them\)$/,
    );
    expect((await readdir(dir)).sort()).toEqual(before);
  });

  it('a flipped byte in the write-ahead log: refused before LevelDB could drop the record, the log untouched', async () => {
    const log = await file(/\.log$/);
    const bytes = await readFile(log);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
    await writeFile(log, bytes);
    expect(await refusal()).toMatch(
      /^write-ahead log \d{6}\.log is damaged at byte \d+ \(checksum mismatch; LevelDB would drop what follows\)$/,
    );
    expect(await readFile(log)).toEqual(bytes);
  });

  it('a write-ahead log cut short in its last record opens, without that write (as after a crash)', async () => {
    const log = await file(/\.log$/);
    const bytes = await readFile(log);
    await truncate(log, bytes.length - 100);
    const store = await LevelStore.open(dir);
    await store.verify();
    expect((await store.load(2)).entries.at(-1)?.index).toBe(50);
    expect((await store.load(1)).entries.at(-1)?.index).toBe(60);
    await store.close();
  });

  it('a truncated manifest: refused with what LevelDB reports', async () => {
    const manifest = await file(/^MANIFEST-/);
    await truncate(manifest, Math.floor((await readFile(manifest)).length / 2));
    expect(await refusal()).toMatch(/^LevelDB reports Corruption: /);
  });

  it('a truncated table: refused as shorter than LevelDB recorded', async () => {
    const table = await file(/\.ldb$/);
    await truncate(table, Math.floor((await readFile(table)).length / 2));
    expect(await refusal()).toMatch(
      /^table \d{6}\.ldb is shorter than LevelDB recorded \(IO error: .+\.ldb: Invalid argument\)$/,
    );
  });

  it('a directory holding only the first manifest of a creation cut short opens as a new store', async () => {
    await rm(dir, { recursive: true, force: true });
    dir = await mkdtemp(join(tmpdir(), 'raftkv-level-files-'));
    await writeFile(join(dir, 'MANIFEST-000001'), '');
    const store = await LevelStore.open(dir);
    expect(await store.identity()).toBe(null);
    await store.close();
  });
});

describe('LevelStore.verify finds damaged records at start-up', () => {
  const withRawDb = (fn: (db: RawDb) => Promise<unknown>) => withRawDbAt(dir, fn);

  it('a flipped byte in an entry value: refused by its checksum before anything is served', async () => {
    await withRawDb(async (db) => {
      const value = (await db.get(entryKey(1, 57)))!;
      value[value.length - 10]! ^= 0x01;
      await db.put(entryKey(1, 57), value);
    });
    const store = await LevelStore.open(dir);
    await expect(store.verify()).rejects.toThrow(
      /^store corrupt: group 1 entry 57: checksum mismatch \(stored [0-9a-f]{8}, computed [0-9a-f]{8}\)$/,
    );
    await store.close();
  });

  it("hands what it read to each group's first load(), and a write in between is not missed", async () => {
    const store = await LevelStore.open(dir);
    await store.verify();
    await store.write([groupWrite(2, { entries: bigEntries(61, 61) })], { sync: true });
    const [g0, g2] = [await store.load(0), await store.load(2)];
    expect(g0.entries.map((e) => e.index)).toEqual(bigEntries(1, 60).map((e) => e.index));
    expect(g0.hardState).toEqual({ term: 1, vote: 'n1', commit: 60 });
    expect(g2.entries.at(-1)).toEqual(bigEntries(61, 61)[0]);
    await store.close();
  });

  it('stored groups without an identity: refused, as it would pass for a new store', async () => {
    await withRawDb((db) => db.del(identityKey()));
    const store = await LevelStore.open(dir);
    await expect(store.verify()).rejects.toThrow(
      new StoreCorruptError(null, 'identity', null, 'missing, yet groups 0, 1, 2 are stored'),
    );
    await store.close();
  });
});
