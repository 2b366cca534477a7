/**
 * Backup and restore, end to end (README "Back up and restore"): 50,000 keys over 3 shards; a
 * backup taken while a writer runs and right after the leader of one shard is SIGKILLed (the
 * backup copies that shard from its new leader); the file restored into a fresh 3-node cluster
 * with a new cluster id. In the new cluster every key acknowledged at or before its shard's
 * recorded index is there with its value and version, nothing written after it, and the cluster
 * serves reads and writes. The CLI's backup and its refusal of a damaged file are checked too.
 */

import { createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyBackup } from '../../src/backup/read.js';
import { RaftKV } from '../../src/client/index.js';
import { runCli, TestCluster, useCluster } from './harness.js';

const baseKeys = 50_000;

interface Written {
  readonly key: string;
  readonly value: string;
  readonly shard: number;
  /** The write's log index: its version. */
  readonly index: number;
}

describe('backup and restore', () => {
  const cluster = useCluster({ name: 'backup', shards: 3 });
  let restored: TestCluster | null = null;
  afterAll(async () => {
    await restored?.stop();
  });

  it(`${baseKeys} keys backed up under writes and a leader kill restore into a new cluster`, async () => {
    const cl = cluster();
    const kv = new RaftKV({ endpoints: cl.nodes.map((n) => n.api) });
    let next = 0;
    const loadStart = Date.now();
    await Promise.all(
      Array.from({ length: 256 }, async () => {
        for (let i = next++; i < baseKeys; i = next++) await kv.put(`k/${i}`, `value ${i}`);
      }),
    );

    console.log(`[backup] ${baseKeys} keys written in ${Date.now() - loadStart} ms`);
    // A writer of new keys throughout; what it was told, and what it could not tell.
    const acked: Written[] = [];
    const unknown = new Set<string>();
    let writing = true;
    const writer = (async () => {
      for (let n = 0; writing; n++) {
        const key = `w/${n}`;
        const value = `w ${n}`;
        try {
          const r = await kv.put(key, value);
          acked.push({ key, value, shard: r.shard, index: Number(r.version) });
        } catch {
          unknown.add(key);
        }
      }
    })();
    while (acked.length < 20) await new Promise((resolve) => setTimeout(resolve, 10));

    // Shard 0's leader dies as the backup is asked of another node: shard 0 is the first copied,
    // long before a new leader can be elected, so the first try fails and the next one is retried.
    const leaders = await cl.waitBalanced();
    const victimShard = 0;
    const victim = leaders[victimShard]!;
    const serving = cl.ids.find((id) => id !== victim)!;
    const termBefore = (await cl.groupStatus(victim, victimShard)).term;
    const killed = cl.kill(victim); // SIGKILL is sent before this returns
    const file = join(cl.dir, 'taken.backup');
    const res = await request(`${cl.spec(serving).api}/v1/admin/backup`, {
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
    });
    expect(res.statusCode).toBe(200);
    await pipeline(res.body, createWriteStream(file));
    await killed;
    const { manifest } = verifyBackup(file);
    writing = false;
    await writer;

    // The dead leader's shard was copied from its successor, after a first try that failed.
    expect(manifest.parts[victimShard]!.term).toBeGreaterThan(termBefore);
    expect(
      cl.logEvents(serving, 'backup: shard not copied; trying again').some((e) => e.shard === victimShard),
    ).toBe(true);
    const keysInBackup = manifest.parts.reduce((n, p) => n + p.keys, 0);
    const ackedBefore = acked.filter((w) => w.index <= manifest.parts[w.shard]!.index);
    expect(keysInBackup).toBeGreaterThanOrEqual(baseKeys + ackedBefore.length);
    console.log(
      `[backup] ${keysInBackup} keys, ${readFileSync(file).byteLength} bytes; parts ${manifest.parts.map((p) => `${p.shard}@${p.index}/t${p.term}`).join(' ')}; writer: ${acked.length} acked (${ackedBefore.length} at or before the recorded indexes), ${unknown.size} unknown`,
    );

    // The CLI's own backup of the same cluster (two nodes up) is a verified file too.
    const cliFile = join(cl.dir, 'cli.backup');
    const cli = await runCli(['backup', '--out', cliFile, '--endpoints', cl.spec(serving).api], 60_000);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(new RegExp(`^backup of cluster ${manifest.clusterId}: 3 shards, \\d+ keys`));
    expect(existsSync(`${cliFile}.partial`)).toBe(false);
    expect(verifyBackup(cliFile).manifest.shards).toBe(3);

    // A new cluster from the file: same node ids and shards, its own cluster id.
    const fresh = await TestCluster.create({ name: 'restored', shards: 3, clusterId: 'restored-cluster' });
    restored = fresh;
    const damaged = join(fresh.dir, 'damaged.backup');
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(damaged, bytes);
    const refused = await runCli([
      'restore',
      '--from',
      damaged,
      '--config',
      fresh.configPath,
      '--id',
      'n1',
      '--data',
      fresh.dataDir('n1'),
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^raftkv: restore refused: .+\n$/);
    expect(existsSync(fresh.dataDir('n1'))).toBe(false);

    for (const id of fresh.ids) {
      const r = await runCli([
        'restore',
        '--from',
        file,
        '--config',
        fresh.configPath,
        '--id',
        id,
        '--data',
        fresh.dataDir(id),
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    await fresh.start();
    await fresh.waitReady();
    const kv2 = new RaftKV({ endpoints: fresh.nodes.map((n) => n.api) });

    const found = new Map<string, { value: string; version: string }>();
    for (const prefix of ['k/', 'w/']) {
      let after: string | undefined;
      for (;;) {
        const page = await kv2.list(prefix, { limit: 1000, ...(after === undefined ? {} : { after }) });
        for (const item of page.items)
          found.set(item.key, { value: Buffer.from(item.value).toString(), version: item.version });
        if (page.next === null) break;
        after = page.next;
      }
    }
    for (let i = 0; i < baseKeys; i++) expect(found.get(`k/${i}`)?.value).toBe(`value ${i}`);
    for (const w of acked) {
      const recorded = manifest.parts[w.shard]!.index;
      if (w.index <= recorded) expect(found.get(w.key)).toEqual({ value: w.value, version: String(w.index) });
      else expect(found.has(w.key)).toBe(false);
    }
    // A write whose outcome the writer could not tell may be there, but only from before the index.
    for (const key of unknown) {
      const f = found.get(key);
      if (f !== undefined)
        expect(Number(f.version)).toBeLessThanOrEqual(manifest.parts[fresh.shardOf(key)]!.index);
    }
    expect(found.size).toBe(keysInBackup);

    // The new cluster serves writes and reads.
    const put = await kv2.put('after/restore', 'yes');
    expect(Number(put.version)).toBeGreaterThan(manifest.parts[put.shard]!.index);
    expect(Buffer.from((await kv2.get('after/restore'))!.value).toString()).toBe('yes');
    await kv.close();
    await kv2.close();
  }, 240_000);
});
