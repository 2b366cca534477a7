/**
 * `npm run bench:soak -- --minutes 10 --connections 256`: a fresh local raftkv cluster (3 nodes,
 * 3 shards) under PUT load from the independent generator (autocannon, any node) for a long
 * while, to show that load alone changes no leader: every shard's term and leader are read
 * before and after, and every node's record of leader changes during the run is counted. Writes
 * its section of BENCHMARKS.md.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../harness/index.js';
import { raftkvClientTarget } from '../src/bench/targets.js';
import { preload, startRaftkv } from './bench-cluster.js';
import { writeSection } from './bench-report.js';
import { independentLoad, raftkvPut } from './independent-load.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    connections: { type: 'string', default: '256' },
    keys: { type: 'string', default: '10000' },
    out: { type: 'string', default: join(repoRoot, 'BENCHMARKS.md') },
  },
});

interface GroupView {
  readonly shard: number;
  readonly term: number;
  readonly leader: string | null;
  readonly leaderChanges: readonly { readonly electedAtMs: number; readonly kind: string }[];
}

async function groups(endpoints: readonly string[]): Promise<GroupView[]> {
  const all: GroupView[] = [];
  for (const e of endpoints) {
    const s = (await (await fetch(`${e}/v1/status`)).json()) as { groups: GroupView[] };
    all.push(...s.groups);
  }
  return all;
}

const leadership = (gs: readonly GroupView[]) =>
  JSON.stringify([...new Map(gs.map((g) => [g.shard, `${g.shard}:${g.leader}@${g.term}`])).values()].sort());

const dir = mkdtempSync(join(tmpdir(), 'raftkv-soak-'));
const cluster = await startRaftkv(join(dir, 'cluster'), { shards: 3, portBase: 28_000 });
try {
  const keys = Number(args.keys);
  await preload(raftkvClientTarget(cluster.endpoints), keys);
  const before = await groups(cluster.endpoints);
  const startedMs = Date.now();
  const run = await independentLoad({
    urls: cluster.endpoints,
    connections: Number(args.connections),
    durationS: Number(args.minutes) * 60,
    keys,
    pids: cluster.pids,
    shape: raftkvPut,
  });
  const after = await groups(cluster.endpoints);
  const changesDuring = after.flatMap((g) => g.leaderChanges.filter((c) => c.electedAtMs >= startedMs));
  const md = [
    '## Leaders under sustained load (`npm run bench:soak`)',
    '',
    `A fresh local cluster (3 nodes, 3 shards) under ${args.connections} connections of PUTs from autocannon (any`,
    `node, 100-byte values over ${keys} keys) for ${args.minutes} minutes. Leaders and terms are read from every node`,
    'before and after; every leader change any node recorded during the run is counted.',
    '',
    `- date: ${new Date().toISOString()}`,
    `- PUTs: ${Math.round(run.opsPerSec)}/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms, ${run.errors} failed, CPU ${Math.round(run.cpuUsPerOp)} µs/op`,
    `- leaders and terms before: ${leadership(before)}`,
    `- leaders and terms after: ${leadership(after)}`,
    `- leader changes recorded during the run: ${changesDuring.length}`,
  ].join('\n');
  writeSection(args.out, 'bench:soak', md);
  console.log(md);
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}
