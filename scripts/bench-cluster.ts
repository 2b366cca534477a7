/**
 * A fresh local raftkv cluster for benchmarks (3 nodes on loopback, logs at warn, data in a temp
 * dir) and the preload of its keys: shared by `bench:compare` and `bench:shards`.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type NodeProcess, startNode, stopNode, waitFor } from '../harness/index.js';
import type { Target } from '../src/bench/targets.js';

export interface BenchCluster {
  readonly endpoints: string[];
  /** The node processes' PIDs, in node order. */
  readonly pids: number[];
  stop(): Promise<void>;
}

export interface BenchClusterOptions {
  readonly shards: number;
  readonly portBase: number;
  readonly env?: Record<string, string>;
  /** The cluster file's clusterId; by default none (the digest of node ids, shards and replicas). */
  readonly clusterId?: string;
  /** Optional cluster-file fields (README "The cluster file"), e.g. `requestTimeoutMs`. */
  readonly tuning?: Readonly<Record<string, number | boolean>>;
  /** How long each node may take to answer /readyz 200 (default 30 s); the nodes are stopped after. */
  readonly readyTimeoutMs?: number;
  /** Where the nodes' output goes (discarded by default). */
  readonly onOutput?: (id: string, chunk: Buffer) => void;
}

/**
 * Writes `dir`/cluster.json for three nodes n1..n3 on ports portBase+1..3 (API) and +101..103
 * (peers), each with its data in `dir`/<id>; returns its path. startRaftkv() writes the same file,
 * so a caller may prepare the data directories (`raftkv restore`) from it first.
 */
export function writeBenchClusterFile(dir: string, o: BenchClusterOptions): string {
  mkdirSync(dir, { recursive: true });
  const configPath = join(dir, 'cluster.json');
  const id = o.clusterId === undefined ? {} : { clusterId: o.clusterId };
  writeFileSync(
    configPath,
    JSON.stringify(
      { ...id, nodes: benchNodes(o.portBase), shards: o.shards, replicas: 3, ...o.tuning },
      null,
      2,
    ),
  );
  return configPath;
}

const benchNodes = (portBase: number) =>
  [1, 2, 3].map((i) => ({
    id: `n${i}`,
    api: `http://127.0.0.1:${portBase + i}`,
    peer: `http://127.0.0.1:${portBase + 100 + i}`,
  }));

/** Starts three nodes with `shards` groups on ports portBase+1..3 (API) and +101..103 (peers). */
export async function startRaftkv(dir: string, o: BenchClusterOptions): Promise<BenchCluster> {
  const configPath = writeBenchClusterFile(dir, o);
  const nodes = benchNodes(o.portBase);
  const procs: NodeProcess[] = nodes.map((n) =>
    startNode(
      { configPath, id: n.id, dataDir: join(dir, n.id), env: { RAFTKV_LOG_LEVEL: 'warn', ...o.env } },
      (id, chunk) => o.onOutput?.(id, chunk),
    ),
  );
  const endpoints = nodes.map((n) => n.api);
  const stop = async () => void (await Promise.all(procs.map((p) => stopNode(p))));
  try {
    for (const e of endpoints) {
      await waitFor(async () => (await fetch(`${e}/readyz`, { signal: AbortSignal.timeout(1_000) })).ok, {
        timeoutMs: o.readyTimeoutMs ?? 30_000,
        intervalMs: 200,
        what: `raftkv node ${e} to be ready`,
      });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoints, pids: procs.map((p) => p.child.pid!), stop };
}

/** Writes `keys` keys of 100 bytes (bench/00000000…) through 32 concurrent clients. */
export async function preload(target: Target, keys: number): Promise<void> {
  const value = new Uint8Array(100).fill(120);
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < keys) await target.put(`bench/${(next++).toString().padStart(8, '0')}`, value);
    }),
  );
}
