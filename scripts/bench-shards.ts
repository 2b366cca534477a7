/**
 * `npm run bench:shards`: what sharding buys. Two fresh local 3-node clusters, one with 1 shard
 * and one with 3, the same PUT load through the client library (64 concurrent clients by
 * default, 100-byte values over 10,000 keys) against each in turn, interleaved over rounds;
 * prints each run and the median ops/s and p99 of each.
 *
 * On one small machine all nodes share the same cores, so sharding cannot add CPU. With
 * `--node-cpus C` (root, cgroup v1 `cpu` controller) every node process gets at most C cores, as
 * if each node ran on a machine of its own: then a single leader's CPU is the limit that shards
 * spread over all nodes.
 */

import { mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type RunResult, runLoad } from '../src/bench/runner.js';
import { raftkvClientTarget } from '../src/bench/targets.js';
import { preload, startRaftkv } from './bench-cluster.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    clients: { type: 'string', default: '64' },
    keys: { type: 'string', default: '10000' },
    'node-cpus': { type: 'string' },
  },
});
const nodeCpus = args['node-cpus'] === undefined ? null : Number(args['node-cpus']);
const rounds = Number(args.rounds);
const durationMs = Number(args.duration) * 1000;
const clients = Number(args.clients);
const keys = Number(args.keys);

const cgroupRoot = '/sys/fs/cgroup/cpu';

/** Caps the process `pid` at `cpus` cores in a cgroup of its own; returns the cgroup's path. */
function capCpu(name: string, pid: number, cpus: number): string {
  const dir = `${cgroupRoot}/${name}`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/cpu.cfs_period_us`, '100000');
  writeFileSync(`${dir}/cpu.cfs_quota_us`, String(Math.round(cpus * 100_000)));
  writeFileSync(`${dir}/cgroup.procs`, String(pid));
  return dir;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-shards-'));
  const layouts = [
    { name: '1 shard', shards: 1, portBase: 28000 },
    { name: '3 shards', shards: 3, portBase: 28200 },
  ];
  const clusters = [];
  const cgroups: string[] = [];
  try {
    for (const l of layouts) {
      const c = await startRaftkv(join(dir, String(l.shards)), l);
      if (nodeCpus !== null)
        for (const [i, pid] of c.pids.entries())
          cgroups.push(capCpu(`raftkv-bench-${l.shards}-n${i + 1}`, pid, nodeCpus));
      const target = raftkvClientTarget(c.endpoints);
      clusters.push({ ...l, c, target, results: [] as RunResult[] });
      await preload(target, keys);
    }
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? clusters : [...clusters].reverse();
      for (const k of order) {
        const r = await runLoad(
          k.target,
          { keys, valueBytes: 100, distribution: 'uniform', mix: { put: 1, get: 0, cas: 0 } },
          { clients, durationMs, rate: 0, stale: false, seed: round + 1 },
        );
        k.results.push(r);
        const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
        process.stdout.write(
          `round ${round + 1} ${k.name.padEnd(8)} ${r.opsPerSec.toFixed(0).padStart(6)} ops/s  p50 ${r.latencyMs.p50.toFixed(1)} ms  p99 ${r.latencyMs.p99.toFixed(1)} ms  errors ${errors}\n`,
        );
      }
    }
    const cap = nodeCpus === null ? '' : `, each node capped at ${nodeCpus} CPU`;
    process.stdout.write(
      `\nPUT, ${clients} clients, ${args.duration} s x ${rounds} rounds (median)${cap}:\n`,
    );
    for (const k of clusters) {
      process.stdout.write(
        `  ${k.name.padEnd(8)} ${median(k.results.map((r) => r.opsPerSec))
          .toFixed(0)
          .padStart(6)} ops/s  p99 ${median(k.results.map((r) => r.latencyMs.p99)).toFixed(1)} ms\n`,
      );
    }
  } finally {
    for (const k of clusters) {
      await k.target.close();
      await k.c.stop();
    }
    for (const g of cgroups) rmdirSync(g);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
