/**
 * The backup file (src/backup/format.ts, read.ts) and `raftkv restore` (src/server/restore.ts):
 * a file BackupWriter writes verifies, and gives back each shard's snapshot byte for byte; a
 * truncated file, a file with any one bit flipped, and a file of a newer format are all refused
 * with a one-line BackupFormatError; restore turns a backup into a new cluster's data directory
 * (unclaimed identity, the placement's replicas, each shard's snapshot installed at the part's
 * index and term), and every refusal of restore leaves the data directory as it found it.
 */

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackupFormatError, BackupWriter, type Manifest, sha256Hex } from '../../../src/backup/format.js';
import { readPart, verifyBackup } from '../../../src/backup/read.js';
import { ConfigError } from '../../../src/config/cluster-file.js';
import { KVStateMachine } from '../../../src/kv/state-machine.js';
import { RestoreError, restore } from '../../../src/server/restore.js';
import { placeShards } from '../../../src/shard/placement.js';
import { LevelStore } from '../../../src/storage/level-store.js';
import { storeFormat } from '../../../src/storage/raft-store.js';
import { TestLog, text } from '../kv/kv-helpers.js';

const createdAt = '2024-05-01T12:00:00.000Z';
const term = 2;

/** Per shard, the writes its machine applies: [key, value] puts, or a key alone for a delete. */
const shardWrites: readonly (readonly (readonly [string, string] | string)[])[] = [
  [
    ['apple', 'red'],
    ['banana', 'yellow'],
  ],
  [['cherry', 'dark red'], ['damson', 'purple'], 'cherry', ['cherry', 'bright red'], ['elder', 'black']],
  [['fig', 'green'], ['grape', 'white'], ['grape', 'black'], 'fig', ['kiwi', 'brown'], ['lime', 'lime']],
];

/** The machines of shards 0, 1 and 2 (a delete, an overwrite and a no-op among their writes). */
function machines(): KVStateMachine[] {
  return shardWrites.map((writes) => {
    const log = new TestLog(new KVStateMachine());
    log.noop();
    for (const w of writes) {
      if (typeof w === 'string') log.del(w);
      else log.put(w[0], w[1]);
    }
    return log.kv;
  });
}

interface Backup {
  readonly path: string;
  readonly bytes: Buffer;
  readonly machines: readonly KVStateMachine[];
  readonly manifest: Manifest;
}

/** Streams `b` in two chunks, as a part's data may arrive. */
async function* inTwo(b: Uint8Array): AsyncIterable<Uint8Array> {
  const half = Math.floor(b.byteLength / 2);
  yield b.subarray(0, half);
  yield b.subarray(half);
}

/** A backup of cluster "old-cluster" (3 shards), written to `dir/backup.rkv`. */
async function writeBackup(dir: string): Promise<Backup> {
  const ms = machines();
  const snapshots = ms.map((m) => m.snapshot());
  const chunks: Buffer[] = [];
  const writer = new BackupWriter(
    async (chunk) => {
      chunks.push(Buffer.from(chunk));
    },
    {
      clusterId: 'old-cluster',
      shards: 3,
      bytes: snapshots.reduce((n, s) => n + s.byteLength, 0),
      createdAt,
    },
  );
  await writer.start();
  for (const [shard, m] of ms.entries()) {
    const data = snapshots[shard]!;
    const meta = { shard, index: m.appliedIndex, term, keys: m.size, bytes: data.byteLength };
    await writer.part(meta, sha256Hex(data), inTwo(data));
  }
  const manifest = await writer.finish();
  const bytes = Buffer.concat(chunks);
  const path = join(dir, 'backup.rkv');
  writeFileSync(path, bytes);
  return { path, bytes, machines: ms, manifest };
}

/** The error `fn` throws; fails the test if it returns. */
function thrownBy(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw, but it returned');
}

/** The error `p` rejects with; fails the test if it resolves. */
async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection, but it resolved');
}

/** Where the file's last line (`sha256 <hex>\n`) starts. */
const lastLineStart = (b: Buffer): number => b.lastIndexOf(0x0a, b.length - 2) + 1;

/** Where the manifest line starts. */
const manifestStart = (b: Buffer): number => b.lastIndexOf(0x0a, lastLineStart(b) - 2) + 1;

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'raftkv-backup-file-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the backup file', () => {
  it('a file BackupWriter wrote verifies, and readPart gives back each shard snapshot', async () => {
    const b = await writeBackup(dir);
    expect(b.bytes.subarray(0, 16).toString()).toBe('raftkv-backup 1\n');
    expect(b.bytes.length).toBeLessThan(4096);

    const verified = verifyBackup(b.path);
    expect(verified.header).toEqual({
      clusterId: 'old-cluster',
      shards: 3,
      bytes: b.machines.reduce((n, m) => n + m.snapshot().byteLength, 0),
      createdAt,
    });
    expect(verified.manifest).toEqual(b.manifest);
    expect(verified.manifest).toMatchObject({ format: 1, clusterId: 'old-cluster', shards: 3, createdAt });
    expect(verified.manifest.sha256).toBe(sha256Hex(b.bytes.subarray(0, manifestStart(b.bytes))));
    expect(verified.parts.map((p) => p.entry)).toEqual(
      b.machines.map((m, shard) => {
        const data = m.snapshot();
        return {
          shard,
          index: m.appliedIndex,
          term,
          keys: m.size,
          bytes: data.byteLength,
          sha256: sha256Hex(data),
        };
      }),
    );
    // The machines differ, so a part swapped or misplaced would show.
    expect(verified.parts.map((p) => [p.entry.index, p.entry.keys])).toEqual([
      [3, 2],
      [6, 3],
      [7, 3],
    ]);
    for (const [shard, part] of verified.parts.entries()) {
      expect([...readPart(b.path, part)]).toEqual([...b.machines[shard]!.snapshot()]);
    }
    const lastLine = b.bytes.subarray(lastLineStart(b.bytes)).toString();
    expect(lastLine).toBe(
      `sha256 ${sha256Hex(b.bytes.subarray(manifestStart(b.bytes), lastLineStart(b.bytes)))}\n`,
    );
  });

  it('a truncated file is refused, wherever it was cut', async () => {
    const b = await writeBackup(dir);
    const { parts } = verifyBackup(b.path);
    const firstNewline = b.bytes.indexOf(0x0a);
    const secondNewline = b.bytes.indexOf(0x0a, firstNewline + 1);
    const cuts = [
      0,
      5, // inside the magic line
      firstNewline + 1 + Math.floor((secondNewline - firstNewline) / 2), // inside the header line
      ...parts.map((p) => p.offset + Math.floor(p.entry.bytes / 2)), // inside each part's data
      lastLineStart(b.bytes), // just before the last line
      b.bytes.length - 1, // one byte short
    ];
    const damaged = join(dir, 'cut.rkv');
    for (const cut of cuts) {
      writeFileSync(damaged, b.bytes.subarray(0, cut));
      const err = thrownBy(() => verifyBackup(damaged));
      expect({ cut, err }).toEqual({ cut, err: expect.any(BackupFormatError) });
    }
  });

  it('one flipped bit anywhere in the file is refused, with a one-line message', async () => {
    const b = await writeBackup(dir);
    const damaged = join(dir, 'flipped.rkv');
    const accepted: number[] = [];
    const otherErrors: string[] = [];
    const multiLine: number[] = [];
    for (let at = 0; at < b.bytes.length; at++) {
      const copy = Buffer.from(b.bytes);
      copy[at]! ^= 0x01;
      writeFileSync(damaged, copy);
      let err: unknown = null;
      try {
        verifyBackup(damaged);
      } catch (e) {
        err = e;
      }
      if (err === null) accepted.push(at);
      else if (!(err instanceof BackupFormatError)) otherErrors.push(`${at}: ${String(err)}`);
      else if (err.message.includes('\n') || err.message === '') multiLine.push(at);
    }
    expect({ accepted, otherErrors, multiLine }).toEqual({ accepted: [], otherErrors: [], multiLine: [] });
  });

  it('a file cut just before its last line names what is wrong in one line', async () => {
    const b = await writeBackup(dir);
    const damaged = join(dir, 'cut.rkv');
    writeFileSync(damaged, b.bytes.subarray(0, lastLineStart(b.bytes)));
    expect(thrownBy(() => verifyBackup(damaged)).message).toBe(
      'the file is truncated or damaged: it does not end with its digest line',
    );
  });

  it('a newer format on the first line is refused, naming the format', async () => {
    const b = await writeBackup(dir);
    const newer = Buffer.concat([Buffer.from('raftkv-backup 2\n'), b.bytes.subarray(16)]);
    writeFileSync(b.path, newer);
    const err = thrownBy(() => verifyBackup(b.path));
    expect(err).toBeInstanceOf(BackupFormatError);
    expect(err.message).toBe("the backup has format 2, newer than this build's 1: use a newer raftkv");
  });

  it('a manifest of a newer format is refused although its digest line matches it', async () => {
    const b = await writeBackup(dir);
    const start = manifestStart(b.bytes);
    const manifest = JSON.parse(b.bytes.subarray(start, lastLineStart(b.bytes)).toString()) as Manifest;
    const manifestLine = Buffer.from(`${JSON.stringify({ ...manifest, format: 2 })}\n`);
    const edited = Buffer.concat([
      b.bytes.subarray(0, start),
      manifestLine,
      Buffer.from(`sha256 ${sha256Hex(manifestLine)}\n`),
    ]);
    writeFileSync(b.path, edited);
    const err = thrownBy(() => verifyBackup(b.path));
    expect(err).toBeInstanceOf(BackupFormatError);
    expect(err.message).toMatch(/format 2, newer than this build's 1/);
  });

  /** The file with its manifest replaced by `edit(manifest)`, digest line recomputed. */
  function withManifest(b: Backup, edit: (m: Record<string, unknown>) => unknown): void {
    const start = manifestStart(b.bytes);
    const manifest = JSON.parse(b.bytes.subarray(start, lastLineStart(b.bytes)).toString()) as Record<
      string,
      unknown
    >;
    const manifestLine = Buffer.from(`${JSON.stringify(edit(manifest))}\n`);
    writeFileSync(
      b.path,
      Buffer.concat([
        b.bytes.subarray(0, start),
        manifestLine,
        Buffer.from(`sha256 ${sha256Hex(manifestLine)}\n`),
      ]),
    );
  }

  it('a manifest with a bad format, or not an object, or with a malformed part is refused in one line', async () => {
    const b = await writeBackup(dir);
    const edits: ((m: Record<string, unknown>) => unknown)[] = [
      (m) => ({ ...m, format: 'x\ny' }),
      (m) => ({ ...m, format: 0 }),
      (m) => ({ ...m, format: -1 }),
      () => null,
      () => [1, 2],
      (m) => ({ ...m, parts: [null, null, null] }),
      (m) => ({ ...m, parts: (m.parts as Record<string, unknown>[]).map((p) => ({ ...p, index: '3' })) }),
    ];
    for (const edit of edits) {
      withManifest(b, edit);
      const err = thrownBy(() => verifyBackup(b.path));
      expect(err).toBeInstanceOf(BackupFormatError);
      expect(err.message).not.toContain('\n');
    }
  });

  it('a header or part header line that is JSON but not an object is refused as damage', async () => {
    const b = await writeBackup(dir);
    const lines = (buf: Buffer) => buf.toString('latin1').split('\n');
    for (const which of [1, 2]) {
      const ls = lines(b.bytes);
      ls[which] = 'null';
      writeFileSync(b.path, Buffer.from(ls.join('\n'), 'latin1'));
      const err = thrownBy(() => verifyBackup(b.path));
      expect(err).toBeInstanceOf(BackupFormatError);
    }
  });

  it('a directory given as the backup file is refused in one line', () => {
    const err = thrownBy(() => verifyBackup(dir));
    expect(err).toBeInstanceOf(BackupFormatError);
    expect(err.message).toMatch(/^cannot read the backup: /);
  });
});

const nodeIds = ['n1', 'n2', 'n3'];

/** A cluster file for the nodes n1..n3 (3 replicas), written to `dir/<name>`. */
function clusterFile(name: string, clusterId: string, shards: number): string {
  const path = join(dir, name);
  const nodes = nodeIds.map((id, i) => ({
    id,
    api: `http://127.0.0.1:${7001 + i}`,
    peer: `http://127.0.0.1:${8001 + i}`,
  }));
  writeFileSync(path, JSON.stringify({ clusterId, nodes, shards, replicas: 3 }));
  return path;
}

describe('restore', () => {
  it("prepares a node's data directory of a new cluster from the backup", async () => {
    const b = await writeBackup(dir);
    const dataDir = join(dir, 'n1-data');
    const summary = await restore({
      from: b.path,
      configPath: clusterFile('cluster.json', 'new-cluster', 3),
      id: 'n1',
      dataDir,
    });
    expect(summary).toEqual({
      clusterId: 'new-cluster',
      fromClusterId: 'old-cluster',
      shards: [
        { shard: 0, index: 3, keys: 2 },
        { shard: 1, index: 6, keys: 3 },
        { shard: 2, index: 7, keys: 3 },
      ],
    });
    expect(readdirSync(dataDir)).toEqual(['raft']);

    const store = await LevelStore.open(join(dataDir, 'raft'));
    try {
      expect(await store.identity()).toEqual({
        clusterId: 'new-cluster',
        nodeId: 'n1',
        format: storeFormat,
        incarnation: expect.stringMatching(/^[0-9a-f]{16}$/),
        start: 'unclaimed',
      });
      const placement = placeShards(nodeIds, 3, 3);
      expect(await store.replicas()).toEqual(
        new Map(
          placement.map((voters, shard) => [shard, { initial: { voters, learners: [] }, joinedAfter: 0 }]),
        ),
      );
      for (const [shard, original] of b.machines.entries()) {
        const index = original.appliedIndex;
        const state = await store.load(shard);
        expect(state.hardState).toEqual({ term, vote: null, commit: index });
        expect(state.entries).toEqual([]);
        expect(state.snapshot?.meta).toEqual({ index, term, voters: placement[shard], learners: [] });
        const back = KVStateMachine.restore(state.snapshot!.data);
        expect(back.size).toBe(original.size);
        expect(back.appliedIndex).toBe(index);
        expect(back.digest()).toBe(original.digest());
      }
      const sample = KVStateMachine.restore((await store.load(1)).snapshot!.data);
      expect(text(sample.get('cherry')!.value)).toBe('bright red');
      expect(sample.get('cherry')!.version).toBe('5');
    } finally {
      await store.close();
    }
  });

  describe('refuses, leaving the data directory as it was', () => {
    it('a cluster file with another number of shards', async () => {
      const b = await writeBackup(dir);
      const dataDir = join(dir, 'data');
      const err = await rejectionOf(
        restore({ from: b.path, configPath: clusterFile('c.json', 'new-cluster', 2), id: 'n1', dataDir }),
      );
      expect(err).toBeInstanceOf(RestoreError);
      expect(err.message).toMatch(/^the backup has 3 shards and the cluster file 2: .*"shards": 3$/);
      expect(existsSync(dataDir)).toBe(false);
    });

    it('a data directory path that is a file', async () => {
      const b = await writeBackup(dir);
      const dataDir = join(dir, 'a-file');
      writeFileSync(dataDir, 'keep');
      const err = await rejectionOf(
        restore({ from: b.path, configPath: clusterFile('c.json', 'new-cluster', 3), id: 'n1', dataDir }),
      );
      expect(err).toBeInstanceOf(RestoreError);
      expect(err.message).toBe(`${dataDir} is not a directory`);
      expect(readFileSync(dataDir, 'utf8')).toBe('keep');
    });

    it("a cluster file with the backed-up cluster's id", async () => {
      const b = await writeBackup(dir);
      const dataDir = join(dir, 'data');
      const err = await rejectionOf(
        restore({ from: b.path, configPath: clusterFile('c.json', 'old-cluster', 3), id: 'n1', dataDir }),
      );
      expect(err).toBeInstanceOf(RestoreError);
      expect(err.message).toMatch(/^the cluster file has the backed-up cluster's id \(old-cluster\)/);
      expect(existsSync(dataDir)).toBe(false);
    });

    it('a data directory that is not empty', async () => {
      const b = await writeBackup(dir);
      const dataDir = join(dir, 'data');
      mkdirSync(dataDir);
      writeFileSync(join(dataDir, 'keep.txt'), 'mine');
      const err = await rejectionOf(
        restore({ from: b.path, configPath: clusterFile('c.json', 'new-cluster', 3), id: 'n1', dataDir }),
      );
      expect(err).toBeInstanceOf(RestoreError);
      expect(err.message).toBe(`data directory ${dataDir} is not empty: restore only prepares a new one`);
      expect(readdirSync(dataDir)).toEqual(['keep.txt']);
      expect(readFileSync(join(dataDir, 'keep.txt'), 'utf8')).toBe('mine');
    });

    it('a backup with a flipped bit in a part', async () => {
      const b = await writeBackup(dir);
      const { parts } = verifyBackup(b.path);
      const damaged = Buffer.from(b.bytes);
      damaged[parts[1]!.offset + 3]! ^= 0x01;
      writeFileSync(b.path, damaged);
      const dataDir = join(dir, 'data');
      const err = await rejectionOf(
        restore({ from: b.path, configPath: clusterFile('c.json', 'new-cluster', 3), id: 'n1', dataDir }),
      );
      expect(err).toBeInstanceOf(BackupFormatError);
      expect(err.message).toBe("shard 1's data does not match its digest: the file is damaged");
      expect(existsSync(dataDir)).toBe(false);
    });

    it('a node id the cluster file does not name', async () => {
      const b = await writeBackup(dir);
      const dataDir = join(dir, 'data');
      const err = await rejectionOf(
        restore({ from: b.path, configPath: clusterFile('c.json', 'new-cluster', 3), id: 'n4', dataDir }),
      );
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toBe('node id "n4" is not in the cluster file (it names n1, n2, n3)');
      expect(existsSync(dataDir)).toBe(false);
    });
  });
});
