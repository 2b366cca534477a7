/**
 * `raftkv restore` (README "Back up and restore"): prepares one node's data directory of a NEW
 * cluster from a backup file. The whole file is verified first (every digest, and every shard's
 * data restored into a state machine whose key count must match the manifest); only then is the
 * directory written: the node's identity in the new cluster (unclaimed, so the new cluster's
 * nodes confirm each other at first start as any new cluster does) and, for every shard the
 * cluster file places on the node, a replica whose log starts with the backup's snapshot of that
 * shard, under the new cluster's configuration. Every node of the new cluster is restored from
 * the same file, so their replicas agree. A failure while writing removes the directory again.
 */

import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readPart, type VerifiedBackup, verifyBackup } from '../backup/read.js';
import { type ClusterConfig, loadClusterConfig, nodeSpec } from '../config/cluster-file.js';
import { KVStateMachine } from '../kv/state-machine.js';
import { checkIdentity } from '../node/identity.js';
import { placeShards } from '../shard/placement.js';
import { LevelStore } from '../storage/level-store.js';

export interface RestoreOptions {
  /** The backup file. */
  readonly from: string;
  /** The NEW cluster's file. */
  readonly configPath: string;
  readonly id: string;
  readonly dataDir: string;
}

export interface RestoreSummary {
  readonly clusterId: string;
  readonly fromClusterId: string;
  /** The shards restored on this node, with the index each starts from and its key count. */
  readonly shards: readonly { readonly shard: number; readonly index: number; readonly keys: number }[];
}

export class RestoreError extends Error {
  override readonly name = 'RestoreError';
}

function checkTarget(config: ClusterConfig, backup: VerifiedBackup, dataDir: string): void {
  const m = backup.manifest;
  if (m.shards !== config.shards)
    throw new RestoreError(
      `the backup has ${m.shards} shards and the cluster file ${config.shards}: keys would hash to other shards; restore into a cluster file with "shards": ${m.shards}`,
    );
  if (m.clusterId === config.clusterId)
    throw new RestoreError(
      `the cluster file has the backed-up cluster's id (${m.clusterId}); a restored cluster is a new one: give its cluster file another "clusterId", so nodes of the old cluster are refused as peers`,
    );
  if (!existsSync(dataDir)) return;
  if (!statSync(dataDir).isDirectory()) throw new RestoreError(`${dataDir} is not a directory`);
  if (readdirSync(dataDir).length > 0)
    throw new RestoreError(`data directory ${dataDir} is not empty: restore only prepares a new one`);
}

/** Every part restored into a state machine, one at a time: its key count must be the manifest's. */
function checkParts(path: string, backup: VerifiedBackup): void {
  for (const part of backup.parts) {
    let keys: number;
    try {
      keys = KVStateMachine.restore(readPart(path, part)).size;
    } catch (err) {
      throw new RestoreError(
        `shard ${part.entry.shard}'s data is not a state this build can restore: ${(err as Error).message}`,
      );
    }
    if (keys !== part.entry.keys)
      throw new RestoreError(
        `shard ${part.entry.shard} holds ${keys} keys, its manifest says ${part.entry.keys}`,
      );
  }
}

export async function restore(o: RestoreOptions): Promise<RestoreSummary> {
  const config = loadClusterConfig(o.configPath);
  nodeSpec(config, o.id);
  const backup = verifyBackup(o.from);
  checkTarget(config, backup, o.dataDir);
  checkParts(o.from, backup);

  const placement = placeShards(
    config.nodes.map((n) => n.id),
    config.shards,
    config.replicas,
  );
  // The first directory this creates (the data dir or a parent of it), to remove on failure.
  const created = mkdirSync(o.dataDir, { recursive: true });
  const restored: { shard: number; index: number; keys: number }[] = [];
  try {
    const store = await LevelStore.open(join(o.dataDir, 'raft'));
    try {
      await checkIdentity(store, config, o.id);
      for (const part of backup.parts) {
        const { shard, index, term, keys } = part.entry;
        const voters = placement[shard]!;
        if (!voters.includes(o.id)) continue;
        await store.createReplica(shard, { initial: { voters, learners: [] }, joinedAfter: 0 });
        await store.write(
          [
            {
              group: shard,
              installSnapshot: { meta: { index, term, voters, learners: [] }, data: readPart(o.from, part) },
              compactSnapshot: null,
              entries: [],
              hardState: { term, vote: null, commit: index },
            },
          ],
          { sync: true },
        );
        restored.push({ shard, index, keys });
      }
    } finally {
      await store.close();
    }
  } catch (err) {
    // Nothing half-restored: the directory goes again (only its contents if it existed, empty).
    if (created !== undefined) rmSync(created, { recursive: true, force: true });
    else
      for (const name of readdirSync(o.dataDir))
        rmSync(join(o.dataDir, name), { recursive: true, force: true });
    throw err;
  }
  return { clusterId: config.clusterId, fromClusterId: backup.manifest.clusterId, shards: restored };
}
