/**
 * `npm run bench:compare`: a fresh local raftkv cluster (3 nodes, 3 shards) and a fresh local
 * three-member etcd, the same workloads against each in turn, interleaved over several rounds:
 * PUT, linearizable GET and stale GET at 1, 16, 64 and 256 connections, 100-byte values over
 * 10,000 keys. The rows that compare are made by an independent generator (autocannon) driving
 * both systems the same way, any node; each reports ops/s, p50/p99 and the CPU per operation of
 * the system's server processes (from /proc). Extra rows, labelled, drive raftkv through its
 * client library (raftkv's own generator, straight to each shard's leader). Leader changes
 * during a round are counted (terms before and after). Writes its section of BENCHMARKS.md and
 * benchmarks/compare.svg.
 */

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../harness/index.js';
import { runLoad } from '../src/bench/runner.js';
import { raftkvClientTarget } from '../src/bench/targets.js';
import { renderChart } from './bench-chart.js';
import { preload, startRaftkv } from './bench-cluster.js';
import { median, writeSection } from './bench-report.js';
import { etcdTerm, raftkvTerms } from './cluster-terms.js';
import { startEtcd } from './etcd-cluster.js';
import {
  benchValue,
  type IndependentRun,
  independentLoad,
  type RequestShape,
  raftkvPut,
} from './independent-load.js';
import { cpuSince } from './proc-cpu.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    levels: { type: 'string', default: '1,16,64,256' },
    keys: { type: 'string', default: '10000' },
    out: { type: 'string', default: 'BENCHMARKS.md' },
  },
});
const rounds = Number(args.rounds);
const durationS = Number(args.duration);
const levels = args.levels.split(',').map(Number);
const keys = Number(args.keys);

type Kind = 'put' | 'get' | 'stale get';
const kinds: Kind[] = ['put', 'get', 'stale get'];
/** Who drives what: the independent generator against each system, and raftkv's own. */
type Driver = 'raftkv' | 'etcd' | 'raftkv client library';
const drivers: Driver[] = ['raftkv', 'etcd', 'raftkv client library'];

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const shapes: Record<'raftkv' | 'etcd', Record<Kind, RequestShape>> = {
  raftkv: {
    put: raftkvPut,
    get: { method: 'GET', path: (k) => `/v1/kv/${encodeURIComponent(k)}` },
    'stale get': { method: 'GET', path: (k) => `/v1/kv/${encodeURIComponent(k)}?consistency=stale` },
  },
  etcd: {
    put: {
      method: 'POST',
      path: () => '/v3/kv/put',
      body: (k) => JSON.stringify({ key: b64(k), value: b64(benchValue) }),
      headers: { 'content-type': 'application/json' },
    },
    get: {
      method: 'POST',
      path: () => '/v3/kv/range',
      body: (k) => JSON.stringify({ key: b64(k) }),
      headers: { 'content-type': 'application/json' },
    },
    'stale get': {
      method: 'POST',
      path: () => '/v3/kv/range',
      body: (k) => JSON.stringify({ key: b64(k), serializable: true }),
      headers: { 'content-type': 'application/json' },
    },
  },
};

interface Row {
  kind: Kind;
  clients: number;
  results: Record<Driver, IndependentRun[]>;
  /** Rounds in which some leader changed (raftkv: a shard's term rose; etcd: the raft term rose). */
  leaderChanges: Record<'raftkv' | 'etcd', number>;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-compare-'));
  const raftkv = await startRaftkv(join(dir, 'raftkv'), { shards: 3, portBase: 27000 });
  const etcd = await startEtcd(join(dir, 'etcd'));
  const client = raftkvClientTarget(raftkv.endpoints);
  const rows: Row[] = [];
  try {
    process.stdout.write(
      `raftkv at ${raftkv.endpoints.join(', ')}; ${etcd.version} at ${etcd.endpoints.join(', ')}\n`,
    );
    process.stdout.write(`preloading ${keys} keys into each...\n`);
    await preload(client, keys);
    await independentLoad({
      urls: etcd.endpoints,
      connections: 32,
      durationS: 5,
      keys,
      shape: shapes.etcd.put,
      pids: etcd.pids,
    });
    for (const kind of kinds) {
      for (const clients of levels) {
        const row: Row = {
          kind,
          clients,
          results: { raftkv: [], etcd: [], 'raftkv client library': [] },
          leaderChanges: { raftkv: 0, etcd: 0 },
        };
        rows.push(row);
        for (let round = 0; round < rounds; round++) {
          const order = round % 2 === 0 ? drivers : [...drivers].reverse();
          const before = {
            raftkv: await raftkvTerms(raftkv.endpoints),
            etcd: await etcdTerm(etcd.endpoints),
          };
          for (const driver of order) {
            const r =
              driver === 'raftkv client library'
                ? await clientLibraryRun(client, kind, clients, raftkv.pids, round)
                : await independentLoad({
                    urls: driver === 'raftkv' ? raftkv.endpoints : etcd.endpoints,
                    connections: clients,
                    durationS,
                    keys,
                    shape: shapes[driver][kind],
                    pids: driver === 'raftkv' ? raftkv.pids : etcd.pids,
                  });
            row.results[driver].push(r);
            process.stdout.write(
              `${kind.padEnd(9)} c=${String(clients).padEnd(4)} round ${round + 1} ${driver.padEnd(21)} ${r.opsPerSec.toFixed(0).padStart(7)} ops/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  CPU ${r.cpuUsPerOp.toFixed(0)} µs/op${r.errors > 0 ? `  errors ${r.errors}` : ''}\n`,
            );
          }
          if ((await raftkvTerms(raftkv.endpoints)) !== before.raftkv) row.leaderChanges.raftkv++;
          if ((await etcdTerm(etcd.endpoints)) !== before.etcd) row.leaderChanges.etcd++;
        }
      }
    }
  } finally {
    await client.close();
    await raftkv.stop();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  report(rows, etcd.version);
}

/** raftkv's own generator through the client library, with the nodes' CPU from /proc. */
async function clientLibraryRun(
  target: ReturnType<typeof raftkvClientTarget>,
  kind: Kind,
  clients: number,
  pids: readonly number[],
  round: number,
): Promise<IndependentRun> {
  const used = cpuSince(pids);
  const r = await runLoad(
    target,
    {
      keys,
      valueBytes: 100,
      distribution: 'uniform',
      mix: kind === 'put' ? { put: 1, get: 0, cas: 0 } : { put: 0, get: 1, cas: 0 },
    },
    { clients, durationMs: durationS * 1000, rate: 0, stale: kind === 'stale get', seed: round + 1 },
  );
  const cpu = used().reduce((a, b) => a + b, 0);
  const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
  const ok = r.ops - errors;
  return {
    opsPerSec: (ok * 1000) / r.durationMs,
    p50Ms: r.latencyMs.p50,
    p99Ms: r.latencyMs.p99,
    errors,
    cpuUsPerOp: ok === 0 ? Number.NaN : (cpu * 1e6) / ok,
  };
}

function report(rows: Row[], etcdVersion: string): void {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const of = (row: Row, d: Driver) => ({
    ops: median(row.results[d].map((r) => r.opsPerSec)),
    p50: median(row.results[d].map((r) => r.p50Ms)),
    p99: median(row.results[d].map((r) => r.p99Ms)),
    cpu: median(row.results[d].map((r) => r.cpuUsPerOp)),
    errors: row.results[d].reduce((n, r) => n + r.errors, 0),
  });
  const summary = rows.map((row) => ({
    kind: row.kind,
    clients: row.clients,
    raftkv: of(row, 'raftkv'),
    etcd: of(row, 'etcd'),
    library: of(row, 'raftkv client library'),
    leaderChanges: row.leaderChanges,
  }));
  const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const lines = [
    '| workload | connections | raftkv ops/s | etcd ops/s | ratio | raftkv p50 ms | etcd p50 ms | raftkv p99 ms | etcd p99 ms | raftkv CPU µs/op | etcd CPU µs/op | CPU ratio |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...summary.map(
      (s) =>
        `| ${s.kind} | ${s.clients} | ${f(s.raftkv.ops)} | ${f(s.etcd.ops)} | ${f(s.raftkv.ops / s.etcd.ops, 2)}× | ${f(s.raftkv.p50, 2)} | ${f(s.etcd.p50, 2)} | ${f(s.raftkv.p99, 2)} | ${f(s.etcd.p99, 2)} | ${f(s.raftkv.cpu)} | ${f(s.etcd.cpu)} | ${f(s.raftkv.cpu / s.etcd.cpu, 2)}× |`,
    ),
  ];
  const libraryLines = [
    '| workload | clients | ops/s | p50 ms | p99 ms | CPU µs/op |',
    '|---|---:|---:|---:|---:|---:|',
    ...summary.map(
      (s) =>
        `| ${s.kind} | ${s.clients} | ${f(s.library.ops)} | ${f(s.library.p50, 2)} | ${f(s.library.p99, 2)} | ${f(s.library.cpu)} |`,
    ),
  ];
  const errors = summary.flatMap((s) =>
    (['raftkv', 'etcd', 'library'] as const).flatMap((k) =>
      s[k].errors > 0 ? [`${s.kind}/${s.clients} ${k}: ${s[k].errors}`] : [],
    ),
  );
  const errorNote =
    errors.length > 0
      ? `\nFailed operations: ${errors.join('; ')}.\n`
      : '\nNo operation failed in any run.\n';
  const changes = summary.flatMap((s) =>
    (['raftkv', 'etcd'] as const).flatMap((k) =>
      s.leaderChanges[k] > 0 ? [`${s.kind}/${s.clients} ${k}: ${s.leaderChanges[k]} round(s)`] : [],
    ),
  );
  const changeNote =
    changes.length > 0
      ? `Rounds with a leader change (terms before and after): ${changes.join('; ')}.\n`
      : 'No leader changed during any round (terms checked before and after each).\n';
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const md = [
    '# Benchmarks: raftkv and etcd side by side',
    '',
    'Made by `npm run bench:compare`: a fresh local raftkv cluster (3 nodes, 3 shards, 3 replicas) and a fresh',
    'local three-member etcd on the same machine and the same cores, both with default durability (every',
    'acknowledged write is fsynced on a majority). The comparing rows are made by an independent load generator,',
    '[autocannon](https://github.com/mcollina/autocannon), closed loop, its connections spread over every node of',
    'each system (any node: a raftkv node forwards to the shard leader, an etcd member to its leader); raftkv over',
    'its HTTP API, etcd over its v3 HTTP/JSON gateway. "get" is linearizable (raftkv: ReadIndex; etcd: default',
    'linearizable range); "stale get" is raftkv `consistency=stale` and etcd `serializable`. CPU per operation is',
    "the user + system CPU of the system's server processes (from /proc/<pid>/stat) over the successful operations.",
    `The systems run in turn, interleaved over ${rounds} rounds of ${durationS} s per cell; the table shows medians.`,
    `100-byte values over ${keys} keys, uniform.`,
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${process.platform}`,
    `- versions: raftkv ${pkg.version}, ${etcdVersion}, Node.js ${process.version}, autocannon 8`,
    '',
    ...lines,
    errorNote,
    changeNote,
    '![throughput, raftkv and etcd](benchmarks/compare.svg)',
    '',
    "Extra rows, raftkv only, made by raftkv's own generator through its client library (straight to each",
    "shard's leader, so no forwarding): not comparable with the rows above.",
    '',
    ...libraryLines,
    '',
  ].join('\n');
  mkdirSync(join(repoRoot, 'benchmarks'), { recursive: true });
  writeFileSync(join(repoRoot, 'benchmarks', 'compare.svg'), renderChart(summary));
  writeSection(resolve(repoRoot, args.out), 'bench:compare', md);
  process.stdout.write(
    `\n${lines.join('\n')}\n${errorNote}${changeNote}\n${libraryLines.join('\n')}\n\nwrote ${args.out} and benchmarks/compare.svg\n`,
  );
}

await main();
