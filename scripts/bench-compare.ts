/**
 * `npm run bench:compare`: a fresh local raftkv cluster (3 nodes, 3 shards) and a fresh local
 * three-member etcd, the same workloads against each in turn, interleaved over several rounds:
 * PUT, linearizable GET and stale GET at 1, 16, 64 and 256 clients, 100-byte values over 10,000
 * keys. Prints a table with the ratio per row and writes its section of BENCHMARKS.md and
 * benchmarks/compare.svg.
 */

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../harness/index.js';
import { type RunResult, runLoad } from '../src/bench/runner.js';
import { etcdTarget, raftkvClientTarget } from '../src/bench/targets.js';
import type { Workload } from '../src/bench/workload.js';
import { renderChart } from './bench-chart.js';
import { preload, startRaftkv } from './bench-cluster.js';
import { writeSection } from './bench-report.js';
import { startEtcd } from './etcd-cluster.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    duration: { type: 'string', default: '10' },
    levels: { type: 'string', default: '1,16,64,256' },
    keys: { type: 'string', default: '10000' },
    out: { type: 'string', default: 'BENCHMARKS.md' },
  },
});
const rounds = Number(args.rounds);
const durationMs = Number(args.duration) * 1000;
const levels = args.levels.split(',').map(Number);
const keys = Number(args.keys);

type Kind = 'put' | 'get' | 'stale get';
const kinds: Kind[] = ['put', 'get', 'stale get'];
const workloadOf = (kind: Kind): Workload => ({
  keys,
  valueBytes: 100,
  distribution: 'uniform',
  mix: kind === 'put' ? { put: 1, get: 0, cas: 0 } : { put: 0, get: 1, cas: 0 },
});

interface Row {
  kind: Kind;
  clients: number;
  results: Record<'raftkv' | 'etcd', RunResult[]>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : s.length % 2 === 1
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-compare-'));
  const raftkv = await startRaftkv(join(dir, 'raftkv'), { shards: 3, portBase: 27000 });
  const etcd = await startEtcd(join(dir, 'etcd'));
  const targets = { raftkv: raftkvClientTarget(raftkv.endpoints), etcd: etcdTarget(etcd.endpoints) };
  const rows: Row[] = [];
  try {
    process.stdout.write(
      `raftkv at ${raftkv.endpoints.join(', ')}; ${etcd.version} at ${etcd.endpoints.join(', ')}\n`,
    );
    process.stdout.write(`preloading ${keys} keys into each...\n`);
    await preload(targets.raftkv, keys);
    await preload(targets.etcd, keys);
    for (const kind of kinds) {
      for (const clients of levels) {
        const row: Row = { kind, clients, results: { raftkv: [], etcd: [] } };
        rows.push(row);
        for (let round = 0; round < rounds; round++) {
          const order = round % 2 === 0 ? (['raftkv', 'etcd'] as const) : (['etcd', 'raftkv'] as const);
          for (const system of order) {
            const r = await runLoad(targets[system], workloadOf(kind), {
              clients,
              durationMs,
              rate: 0,
              stale: kind === 'stale get',
              seed: round + 1,
            });
            row.results[system].push(r);
            const errs = Object.entries(r.errors)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ');
            process.stdout.write(
              `${kind.padEnd(9)} c=${String(clients).padEnd(4)} round ${round + 1} ${system.padEnd(6)} ${r.opsPerSec.toFixed(0).padStart(7)} ops/s  p50 ${r.latencyMs.p50.toFixed(2)} ms  p99 ${r.latencyMs.p99.toFixed(2)} ms${errs ? `  errors: ${errs}` : ''}\n`,
            );
          }
        }
      }
    }
  } finally {
    await targets.raftkv.close();
    await targets.etcd.close();
    await raftkv.stop();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  report(rows, etcd.version);
}

function report(rows: Row[], etcdVersion: string): void {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const summary = rows.map((row) => {
    const of = (s: 'raftkv' | 'etcd') => ({
      ops: median(row.results[s].map((r) => r.opsPerSec)),
      p50: median(row.results[s].map((r) => r.latencyMs.p50)),
      p99: median(row.results[s].map((r) => r.latencyMs.p99)),
      errors: row.results[s].reduce((n, r) => n + Object.values(r.errors).reduce((a, b) => a + b, 0), 0),
    });
    return { kind: row.kind, clients: row.clients, raftkv: of('raftkv'), etcd: of('etcd') };
  });
  const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const lines = [
    '| workload | clients | raftkv ops/s | etcd ops/s | ratio | raftkv p50 ms | etcd p50 ms | raftkv p99 ms | etcd p99 ms | p99 ratio |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...summary.map(
      (s) =>
        `| ${s.kind} | ${s.clients} | ${f(s.raftkv.ops)} | ${f(s.etcd.ops)} | ${f(s.raftkv.ops / s.etcd.ops, 2)}× | ${f(s.raftkv.p50, 2)} | ${f(s.etcd.p50, 2)} | ${f(s.raftkv.p99, 2)} | ${f(s.etcd.p99, 2)} | ${f(s.raftkv.p99 / s.etcd.p99, 2)}× |`,
    ),
  ];
  const errorNote = summary.some((s) => s.raftkv.errors + s.etcd.errors > 0)
    ? `\nErrors during the runs: ${summary.map((s) => `${s.kind}/${s.clients}: raftkv ${s.raftkv.errors}, etcd ${s.etcd.errors}`).join('; ')}.\n`
    : '\nNo operation failed in any run.\n';
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const md = [
    '# Benchmarks: raftkv and etcd side by side',
    '',
    'Made by `npm run bench:compare`: a fresh local raftkv cluster (3 nodes, 3 shards, 3 replicas) and a fresh',
    'local three-member etcd on the same machine and the same cores, both with default durability (every',
    'acknowledged write is fsynced on a majority). The same load generator drives both, closed loop, interleaved',
    `over ${rounds} rounds of ${durationMs / 1000} s per cell; the table shows medians over rounds. 100-byte values over`,
    `${keys} keys, uniform. raftkv is driven through its client library (straight to each shard's leader), etcd`,
    'through its v3 HTTP/JSON gateway, members in turn. "get" is linearizable (raftkv: ReadIndex; etcd: default',
    'linearizable range); "stale get" is raftkv `consistency=stale` and etcd `serializable`.',
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${process.platform}`,
    `- versions: raftkv ${pkg.version}, ${etcdVersion}, Node.js ${process.version}`,
    '',
    ...lines,
    errorNote,
    '![throughput, raftkv and etcd](benchmarks/compare.svg)',
    '',
  ].join('\n');
  mkdirSync(join(repoRoot, 'benchmarks'), { recursive: true });
  writeFileSync(join(repoRoot, 'benchmarks', 'compare.svg'), renderChart(summary));
  writeSection(resolve(repoRoot, args.out), 'bench:compare', md);
  process.stdout.write(`\n${lines.join('\n')}\n${errorNote}\nwrote ${args.out} and benchmarks/compare.svg\n`);
}

await main();
