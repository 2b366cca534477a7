/**
 * `npm run bench:scale`: what adding nodes buys. Two fresh local clusters with the same shards
 * (12 by default) and `replicas` 3, one of 3 nodes and one of 6, each driven in turn by the same
 * PUT load at a fixed rate through the client library (straight to each shard's leader),
 * interleaved over rounds. For every node it charges the CPU its process used during the run
 * (from /proc) to the writes the cluster acknowledged: with 3 nodes every node stores every
 * write; with 6, each write touches 3 of them, so each node's cost per write should halve.
 *
 * On one small machine all nodes share the same cores, so throughput cannot grow with nodes: the
 * per-node cost is the figure that shows the scale-out. Prints both tables and writes them into
 * BENCHMARKS.md (its "bench:scale" section).
 */

import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, TestCluster } from '../harness/index.js';
import { type RunResult, runLoad } from '../src/bench/runner.js';
import { raftkvClientTarget } from '../src/bench/targets.js';
import { preload } from './bench-cluster.js';
import { writeSection } from './bench-report.js';
import { cpuSince } from './proc-cpu.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '15' },
    rate: { type: 'string', default: '700' },
    clients: { type: 'string', default: '64' },
    keys: { type: 'string', default: '10000' },
    shards: { type: 'string', default: '12' },
    out: { type: 'string', default: 'BENCHMARKS.md' },
  },
});
const rounds = Number(args.rounds);
const durationMs = Number(args.duration) * 1000;
const rate = Number(args.rate);
const clients = Number(args.clients);
const keys = Number(args.keys);
const shards = Number(args.shards);
const replicas = 3;
/** How long each node's idle CPU is measured before each run. */
const idleMs = 5_000;

interface NodeRow {
  readonly id: string;
  readonly replicas: number;
  readonly leaders: number;
}

interface Layout {
  readonly nodes: number;
  readonly cl: TestCluster;
  readonly target: ReturnType<typeof raftkvClientTarget>;
  readonly rows: NodeRow[];
  /** Per run: each node's CPU seconds, its idle CPU seconds per second just before, the writes acknowledged. */
  readonly runs: { cpu: Map<string, number>; idle: Map<string, number>; acked: number; result: RunResult }[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Waits until the table is settled (nothing moving, counts within ±1) and leaders follow it. */
async function awaitBalanced(cl: TestCluster): Promise<NodeRow[]> {
  return cl.waitFor(
    async () => {
      const r = await cl.request('GET', '/v1/admin/nodes', { node: cl.ids[0]!, timeoutMs: 2_000 });
      if (r.status !== 200) return null;
      const t = r.json<{ moving: string[]; nodes: (NodeRow & { up: boolean })[] }>();
      if (t.moving.length > 0 || t.nodes.length !== cl.ids.length || t.nodes.some((n) => !n.up)) return null;
      const within = (xs: number[], total: number) => xs.every((x) => Math.abs(x - total / xs.length) <= 1);
      if (
        !within(
          t.nodes.map((n) => n.replicas),
          shards * replicas,
        )
      )
        return null;
      const actual = await cl.leaders();
      if (actual.some((l) => l === null)) return null;
      const led = cl.ids.map((id) => actual.filter((l) => l === id).length);
      if (!within(led, shards)) return null;
      return cl.ids.map((id, i) => ({
        id,
        replicas: t.nodes.find((n) => n.id === id)!.replicas,
        leaders: led[i]!,
      }));
    },
    { timeoutMs: 120_000, intervalMs: 250, what: `the ${cl.ids.length}-node cluster to be balanced` },
  );
}

async function startLayout(nodes: number): Promise<Layout> {
  const cl = await TestCluster.create({
    name: `bench-scale-${nodes}`,
    nodes,
    shards,
    replicas,
    nodeEnv: () => ({ RAFTKV_LOG_LEVEL: 'warn' }),
  });
  await cl.start();
  await cl.waitReady({ timeoutMs: 60_000 });
  const rows = await awaitBalanced(cl);
  const target = raftkvClientTarget(cl.nodes.map((n) => n.api));
  return { nodes, cl, target, rows, runs: [] };
}

/** Each node's CPU seconds over the next `ms` of `l`'s cluster, per second. */
async function cpuRates(l: Layout, ms: number): Promise<Map<string, number>> {
  const used = cpuSince(l.cl.ids.map((id) => l.cl.pid(id)));
  await new Promise((r) => setTimeout(r, ms));
  const seconds = used();
  return new Map(l.cl.ids.map((id, i) => [id, (seconds[i]! * 1000) / ms]));
}

async function measure(l: Layout, round: number): Promise<void> {
  const idle = await cpuRates(l, idleMs);
  const used = cpuSince(l.cl.ids.map((id) => l.cl.pid(id)));
  const result = await runLoad(
    l.target,
    { keys, valueBytes: 100, distribution: 'uniform', mix: { put: 1, get: 0, cas: 0 } },
    { clients, durationMs, rate, stale: false, seed: round + 1 },
  );
  const seconds = used();
  const cpu = new Map(l.cl.ids.map((id, i) => [id, seconds[i]!]));
  const acked = result.ops - Object.values(result.errors).reduce((a, b) => a + b, 0);
  l.runs.push({ cpu, idle, acked, result });
  const perNode = [...cpu.values()].map((s) => (s * 1e6) / acked);
  process.stdout.write(
    `round ${round + 1} ${String(l.nodes).padStart(2)} nodes  ${acked} writes acknowledged (${result.opsPerSec.toFixed(0)}/s, p99 ${result.latencyMs.p99.toFixed(1)} ms)  ` +
      `µs CPU per write, per node: ${perNode.map((x) => x.toFixed(0)).join(' ')}\n`,
  );
}

/** A node's median CPU µs per acknowledged write over the runs. */
const nodeCost = (l: Layout, id: string) => median(l.runs.map((r) => (r.cpu.get(id)! * 1e6) / r.acked));
/** A node's median CPU µs per acknowledged write over the runs, its idle CPU rate taken off. */
const nodeWork = (l: Layout, id: string) =>
  median(
    l.runs.map((r) => ((r.cpu.get(id)! - (r.idle.get(id)! * r.result.durationMs) / 1000) * 1e6) / r.acked),
  );
/** A node's median idle CPU, ms per second. */
const nodeIdle = (l: Layout, id: string) => median(l.runs.map((r) => r.idle.get(id)! * 1000));
const meanOf = (l: Layout, f: (l: Layout, id: string) => number) =>
  l.cl.ids.reduce((a, id) => a + f(l, id), 0) / l.cl.ids.length;
const meanNodeCost = (l: Layout) => meanOf(l, nodeCost);
const clusterCost = (l: Layout) =>
  median(l.runs.map((r) => ([...r.cpu.values()].reduce((a, b) => a + b, 0) * 1e6) / r.acked));

function table(l: Layout): string[] {
  return [
    `**${l.nodes} nodes** (${shards} shards × ${replicas} replicas; median over ${l.runs.length} runs: ` +
      `${median(l.runs.map((r) => r.result.opsPerSec)).toFixed(0)} writes/s acknowledged, p99 ` +
      `${median(l.runs.map((r) => r.result.latencyMs.p99)).toFixed(1)} ms)`,
    '',
    '| node | replicas | leaders | CPU µs per acknowledged write | of which above idle | idle CPU, ms/s |',
    '|---|---:|---:|---:|---:|---:|',
    ...l.rows.map(
      (n) =>
        `| ${n.id} | ${n.replicas} | ${n.leaders} | ${nodeCost(l, n.id).toFixed(0)} | ${nodeWork(l, n.id).toFixed(0)} | ${nodeIdle(l, n.id).toFixed(0)} |`,
    ),
    `| **mean per node** | ${(l.rows.reduce((a, n) => a + n.replicas, 0) / l.rows.length).toFixed(1)} | ` +
      `${(l.rows.reduce((a, n) => a + n.leaders, 0) / l.rows.length).toFixed(1)} | **${meanNodeCost(l).toFixed(0)}** | ` +
      `**${meanOf(l, nodeWork).toFixed(0)}** | ${meanOf(l, nodeIdle).toFixed(0)} |`,
    `| all nodes together | | | ${clusterCost(l).toFixed(0)} | | |`,
    '',
  ];
}

async function main(): Promise<void> {
  const layouts: Layout[] = [];
  try {
    for (const nodes of [3, 6]) {
      process.stdout.write(`starting ${nodes} nodes...\n`);
      const l = await startLayout(nodes);
      layouts.push(l);
      await preload(l.target, keys);
      for (const id of l.cl.ids) l.cl.pause(id);
    }
    // Only the cluster being measured runs: the other is stopped (SIGSTOP) meanwhile, so its idle
    // work takes no CPU from the run, and settles again once resumed before its own turn.
    for (let round = 0; round < rounds; round++) {
      for (const l of round % 2 === 0 ? layouts : [...layouts].reverse()) {
        for (const id of l.cl.ids) l.cl.resume(id);
        await awaitBalanced(l.cl);
        await measure(l, round);
        for (const id of l.cl.ids) l.cl.pause(id);
      }
    }
    for (const l of layouts) for (const id of l.cl.ids) l.cl.resume(id);
  } finally {
    for (const l of layouts) {
      await l.target.close();
      await l.cl.stop();
    }
  }
  const [three, six] = layouts as [Layout, Layout];
  const ratio = meanNodeCost(six) / meanNodeCost(three);
  const workRatio = meanOf(six, nodeWork) / meanOf(three, nodeWork);
  const errors = layouts.flatMap((l) => l.runs).reduce((n, r) => n + r.result.ops - r.acked, 0);
  const md = [
    '## Scale-out: CPU per write on each node, 3 nodes and 6 (`npm run bench:scale`)',
    '',
    `Two fresh local clusters with the same ${shards} shards and \`replicas\` 3, one of 3 nodes and one of 6, each`,
    `driven in turn by the same PUT load: ${rate} writes/s offered (open loop, at most ${clients} in flight), 100-byte`,
    `values over ${keys} keys, through the client library (raftkv's own load generator), ${rounds} rounds of`,
    `${durationMs / 1000} s each, interleaved. Each node's CPU (user + system, from /proc/<pid>/stat) during a run is`,
    'divided by the writes the cluster acknowledged in it; the tables show medians over the runs. "Above',
    `idle" takes off what the node spent per second when idle, measured for ${idleMs / 1000} s just before each run:`,
    'heartbeats, ticks and the rebalancer, a fixed cost per node that does not grow with writes.',
    '',
    "All nodes share this machine's cores, so throughput cannot grow with nodes here. What shows the",
    'scale-out is the cost each node pays per write: with 3 nodes every node stores every write; with 6,',
    'each write touches only the 3 nodes of its shard, so each node does about half the work for the same',
    'load: the room that, with each node on a machine of its own, lets twice the nodes carry more writes.',
    'Each node also pays a fixed cost while idle (heartbeats as one HTTP request per peer per tick, ticks,',
    'the rebalancer): it is counted in the first column, so the all-CPU ratio depends on the load offered and',
    'comes nearer 1 as the load falls. At this rate both clusters keep up (writes/s acknowledged below),',
    'but the 3-node one uses most of the two cores, and the contention raises its cost per write: that is',
    'why "above idle" falls below half.',
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${process.platform}; Node.js ${process.version}`,
    `- per node, 6 nodes against 3: **${ratio.toFixed(2)}×** all CPU counted (${meanNodeCost(six).toFixed(0)} µs against ${meanNodeCost(three).toFixed(0)} µs per write); ` +
      `**${workRatio.toFixed(2)}×** above idle (${meanOf(six, nodeWork).toFixed(0)} µs against ${meanOf(three, nodeWork).toFixed(0)} µs)`,
    `- operations that failed: ${errors}`,
    '',
    ...table(three),
    ...table(six),
  ];
  process.stdout.write(`\n${md.join('\n')}\n`);
  writeSection(resolve(repoRoot, args.out), 'bench:scale', md.join('\n'));
  process.stdout.write(`wrote the bench:scale section of ${args.out}\n`);
}

await main();
