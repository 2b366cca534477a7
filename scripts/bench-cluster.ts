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

/** Starts three nodes with `shards` groups on ports portBase+1..3 (API) and +101..103 (peers). */
export async function startRaftkv(
  dir: string,
  o: { shards: number; portBase: number; env?: Record<string, string> },
): Promise<BenchCluster> {
  const nodes = [1, 2, 3].map((i) => ({
    id: `n${i}`,
    api: `http://127.0.0.1:${o.portBase + i}`,
    peer: `http://127.0.0.1:${o.portBase + 100 + i}`,
  }));
  mkdirSync(dir, { recursive: true });
  const configPath = join(dir, 'cluster.json');
  writeFileSync(configPath, JSON.stringify({ nodes, shards: o.shards, replicas: 3 }, null, 2));
  const procs: NodeProcess[] = nodes.map((n) =>
    startNode(
      { configPath, id: n.id, dataDir: join(dir, n.id), env: { RAFTKV_LOG_LEVEL: 'warn', ...o.env } },
      () => {},
    ),
  );
  const endpoints = nodes.map((n) => n.api);
  for (const e of endpoints) {
    await waitFor(async () => (await fetch(`${e}/readyz`, { signal: AbortSignal.timeout(1_000) })).ok, {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: `raftkv node ${e} to be ready`,
    });
  }
  return {
    endpoints,
    pids: procs.map((p) => p.child.pid!),
    stop: async () => void (await Promise.all(procs.map((p) => stopNode(p)))),
  };
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
