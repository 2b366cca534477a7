/**
 * A node refuses a data directory it cannot trust (issue #8), at start-up, with exit code 1 and
 * one sentence on stderr: corrupt (a damaged entry, a damaged write-ahead log, a damaged table),
 * truncated (a table, the manifest, CURRENT gone), from a newer format, of another node, of
 * another cluster. Each is a copy of a real node's directory, damaged; the original still serves.
 */

import { randomUUID } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Level } from 'level';
import { describe, expect, it } from 'vitest';
import { localClusterSecret } from '../../harness/index.js';
import { entryRange } from '../../src/storage/keys.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { storeFormat } from '../../src/storage/raft-store.js';
import { runCli, useCluster } from './harness.js';
import { readBack, writeAll } from './workload.js';

// runCli's node must know the cluster secret the harness gives its nodes.
process.env.RAFTKV_CLUSTER_SECRET ??= localClusterSecret;

/** Exit code 1 and exactly one line on stderr, which is returned. */
function refusalLine(res: { code: number | null; stderr: string }): string {
  const lines = res.stderr.split('\n');
  expect({ code: res.code, lines: lines.length, last: lines.at(-1) }).toEqual({
    code: 1,
    lines: 2,
    last: '',
  });
  return lines[0]!;
}

function fileIn(dir: string, pattern: RegExp): string {
  const name = readdirSync(dir).find((n) => pattern.test(n));
  if (name === undefined) throw new Error(`no file ${pattern} in ${dir}: ${readdirSync(dir).join(', ')}`);
  return join(dir, name);
}

function flipBytes(path: string, from: number, count: number): void {
  const bytes = readFileSync(path);
  for (let i = from; i < from + count && i < bytes.length; i++) bytes[i]! ^= 0xff;
  writeFileSync(path, bytes);
}

describe('bad data directories', () => {
  const cluster = useCluster({ name: 'bad-data-dir' });

  it('each kind of damaged or foreign data directory is refused at start-up with its own sentence', async () => {
    const cl = cluster();
    const run = randomUUID().slice(0, 8);
    // Entries in a table (written, then n1 restarted: LevelDB turns its log into a table) and
    // entries in the write-ahead log (written after).
    const first = new Map(
      Array.from({ length: 60 }, (_, i) => [`bad-dir/${run}/a${i}`, `value ${i} ${randomUUID()}`]),
    );
    const firstVersions = await writeAll(cl, first);
    await cl.restart('n1');
    await cl.waitReady();
    const second = new Map(
      Array.from({ length: 60 }, (_, i) => [`bad-dir/${run}/b${i}`, `value ${i} ${randomUUID()}`]),
    );
    const secondVersions = await writeAll(cl, second);
    await cl.waitFor(
      async () => {
        for (let s = 0; s < cl.shards; s++) {
          const leader = await cl.groupStatus((await cl.waitLeader(s))!, s);
          if ((await cl.groupStatus('n1', s)).applied < leader.commit) return false;
        }
        return true;
      },
      { what: 'n1 to have applied every write' },
    );
    expect(await cl.term('n1')).toBe(0);
    const original = cl.dataDir('n1');
    const raftOf = (data: string) => join(data, 'raft');
    expect(readdirSync(raftOf(original)).filter((n) => /\.(ldb|log)$/.test(n)).length).toBeGreaterThanOrEqual(
      2,
    );

    /** A copy of n1's data directory, damaged by `damage` (given the copy's LevelDB directory). */
    const damaged = async (name: string, damage: (raft: string) => void | Promise<void>) => {
      const copy = join(cl.dir, 'bad', name);
      cpSync(original, copy, { recursive: true });
      await damage(raftOf(copy));
      return copy;
    };
    let entryIndex = -1;
    const dirs = {
      entry: await damaged('entry', async (raft) => {
        const db = new Level<Buffer, Buffer>(raft, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
        await db.open();
        const [[key, value]] = (await db.iterator({ ...entryRange(0), reverse: true, limit: 1 }).all()) as [
          [Buffer, Buffer],
        ];
        entryIndex = Number(key.readBigUInt64BE(6));
        value[value.length - 1]! ^= 0x01;
        await db.put(key, value);
        await db.close();
      }),
      log: await damaged('log', (raft) => {
        const log = fileIn(raft, /\.log$/);
        flipBytes(log, Math.floor(readFileSync(log).length / 2), 1);
      }),
      table: await damaged('table', (raft) => flipBytes(fileIn(raft, /\.ldb$/), 0, 64)),
      truncatedTable: await damaged('truncated-table', (raft) => {
        const table = fileIn(raft, /\.ldb$/);
        truncateSync(table, Math.floor(readFileSync(table).length / 2));
      }),
      truncatedManifest: await damaged('truncated-manifest', (raft) => {
        const manifest = fileIn(raft, /^MANIFEST-/);
        truncateSync(manifest, Math.floor(readFileSync(manifest).length / 2));
      }),
      noCurrent: await damaged('no-current', (raft) => unlinkSync(join(raft, 'CURRENT'))),
      newerFormat: await damaged('newer-format', async (raft) => {
        const store = await LevelStore.open(raft);
        const identity = (await store.identity())!;
        await store.setIdentity({ ...identity, format: storeFormat + 1 });
        await store.close();
      }),
      otherNode: await damaged('other-node', () => undefined),
      otherCluster: await damaged('other-cluster', () => undefined),
    };
    const file = JSON.parse(readFileSync(cl.configPath, 'utf8')) as Record<string, unknown>;
    const otherClusterFile = join(cl.dir, 'other-cluster.json');
    writeFileSync(otherClusterFile, JSON.stringify({ ...file, clusterId: 'another-cluster' }));

    const serve = (data: string, id = 'n1', config = cl.configPath) =>
      runCli(['serve', '--config', config, '--id', id, '--data', data], 30_000);
    const kinds = Object.keys(dirs) as (keyof typeof dirs)[];
    const results = await Promise.all(
      kinds.map((kind) =>
        kind === 'otherNode'
          ? serve(dirs[kind], 'n2')
          : kind === 'otherCluster'
            ? serve(dirs[kind], 'n1', otherClusterFile)
            : serve(dirs[kind]),
      ),
    );
    const lines = Object.fromEntries(kinds.map((kind, i) => [kind, refusalLine(results[i]!)]));
    console.log(
      `[bad-data-dir] refusals (exit 1, one line each):\n${kinds.map((k) => `  ${k}: ${lines[k]}`).join('\n')}`,
    );

    /** The rest of a "data directory <copy> is corrupt: " line: what is damaged and how. */
    const corruptDetail = (kind: keyof typeof dirs) => {
      const prefix = `raftkv: data directory ${raftOf(dirs[kind])} is corrupt: `;
      expect(lines[kind]!.slice(0, prefix.length)).toBe(prefix);
      return lines[kind]!.slice(prefix.length);
    };
    expect(corruptDetail('entry')).toMatch(
      new RegExp(
        `^group 0 entry ${entryIndex}: checksum mismatch \\(stored [0-9a-f]{8}, computed [0-9a-f]{8}\\)$`,
      ),
    );
    expect(corruptDetail('log')).toMatch(
      /^write-ahead log \d{6}\.log is damaged at byte \d+ \(checksum mismatch; LevelDB would drop what follows\)$/,
    );
    // 64 flipped bytes at the start of the table hit its first block, which holds the identity:
    // LevelDB finds a compressed block that does not decompress, or (were the block stored
    // uncompressed) the identity's checksum or key fails.
    expect(corruptDetail('table')).toMatch(/^(LevelDB reports Corruption: |identity: |group \d+ |log: )/);
    expect(corruptDetail('truncatedTable')).toMatch(
      /^table \d{6}\.ldb is shorter than LevelDB recorded \(IO error: .+\.ldb: Invalid argument\)$/,
    );
    expect(corruptDetail('truncatedManifest')).toMatch(/^LevelDB reports Corruption: /);
    expect(corruptDetail('noCurrent')).toMatch(
      /^CURRENT is missing next to \d{6}\.ldb, .*MANIFEST-\d{6} \(LevelDB would start an empty database over them\)$/,
    );
    expect(lines.newerFormat).toBe(
      `raftkv: data directory ${raftOf(dirs.newerFormat)} has format ${storeFormat + 1}, newer than this build's format ${storeFormat}`,
    );
    expect(lines.otherNode).toBe('raftkv: data directory belongs to node n1, not n2');
    expect(lines.otherCluster).toMatch(
      /^raftkv: data directory belongs to cluster [0-9a-f]{16}, not another-cluster of this cluster file$/,
    );
    // Refused, not repaired: the damaged files are as the test left them.
    expect(readdirSync(raftOf(dirs.noCurrent))).not.toContain('CURRENT');

    // The original directory is sound: n1 starts on it and serves every write.
    await cl.start('n1');
    await cl.waitReady();
    const expected = new Map(
      [...first, ...second].map(([k, value]) => [
        k,
        { value, version: (firstVersions.get(k) ?? secondVersions.get(k))! },
      ]),
    );
    expect((await readBack(cl, expected)).wrong).toEqual([]);
  });
});
