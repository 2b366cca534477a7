/**
 * `npm run bench:profile -- --label NAME`: where a raftkv node's CPU goes under write load. A
 * fresh local cluster (3 nodes, 3 shards) takes PUTs from the independent generator (autocannon,
 * any node, as in bench:compare) while V8's CPU profiler runs in every node (started and stopped
 * by signal, scripts/cpu-profile-preload.cjs, so only the loaded window is sampled). The three
 * profiles are summed: self time by owner (a package, a raftkv layer, Node.js core, native code)
 * and the top frames, each as a share of the time the nodes' main threads were not idle. The
 * summary goes to benchmarks/profile-NAME.json (the .cpuprofile files to --keep, if given), and
 * the section `bench:profile` of BENCHMARKS.md shows every summary there side by side, so a
 * profile taken before a change and one after it compare.
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, waitFor } from '../harness/index.js';
import { raftkvClientTarget } from '../src/bench/targets.js';
import { preload, startRaftkv } from './bench-cluster.js';
import { writeSection } from './bench-report.js';
import { independentLoad, raftkvPut } from './independent-load.js';

const { values: args } = parseArgs({
  options: {
    label: { type: 'string', default: 'current' },
    connections: { type: 'string', default: '64' },
    duration: { type: 'string', default: '8' },
    keys: { type: 'string', default: '10000' },
    /** Where the summaries live (a checkout of another commit can write into this one's). */
    dir: { type: 'string', default: join(repoRoot, 'benchmarks') },
    out: { type: 'string', default: join(repoRoot, 'BENCHMARKS.md') },
    keep: { type: 'string' },
  },
});

interface Summary {
  readonly label: string;
  readonly date: string;
  readonly commit: string;
  readonly connections: number;
  readonly opsPerSec: number;
  readonly cpuUsPerOp: number;
  /** Main-thread time not idle, summed over the nodes, in ms. */
  readonly busyMs: number;
  readonly owners: readonly { readonly owner: string; readonly pct: number }[];
  readonly frames: readonly { readonly frame: string; readonly owner: string; readonly pct: number }[];
}

interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

async function profileRun(): Promise<Summary> {
  const work = mkdtempSync(join(tmpdir(), 'raftkv-profile-'));
  const profiles = join(work, 'profiles');
  mkdirSync(profiles);
  const cluster = await startRaftkv(join(work, 'cluster'), {
    shards: 3,
    portBase: 24_000,
    env: {
      NODE_OPTIONS: `--require ${resolve(repoRoot, 'scripts/cpu-profile-preload.cjs')}`,
      RAFTKV_PROFILE_DIR: profiles,
    },
  });
  try {
    const keys = Number(args.keys);
    await preload(raftkvClientTarget(cluster.endpoints), keys);
    const load = {
      urls: cluster.endpoints,
      connections: Number(args.connections),
      keys,
      pids: cluster.pids,
      shape: raftkvPut,
    };
    await independentLoad({ ...load, durationS: 3 }); // warm-up, not profiled
    for (const pid of cluster.pids) process.kill(pid, 'SIGUSR2');
    const run = await independentLoad({ ...load, durationS: Number(args.duration) });
    for (const pid of cluster.pids) process.kill(pid, 'SIGUSR2');
    await waitFor(async () => readdirSync(profiles).length === cluster.pids.length, {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: 'every node to write its CPU profile',
    });
    const files = readdirSync(profiles).map((f) => join(profiles, f));
    if (args.keep !== undefined) {
      mkdirSync(args.keep, { recursive: true });
      for (const f of files) writeFileSync(join(args.keep, `${args.label}-${basename(f)}`), readFileSync(f));
    }
    if (run.errors > 0) console.warn(`${run.errors} operations failed during the profiled run`);
    return summarise(
      files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as CpuProfile),
      run.opsPerSec,
      run.cpuUsPerOp,
    );
  } finally {
    await cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** Whose code a frame is: a package, a raftkv layer, Node.js core, or native/V8. */
function ownerOf(url: string, fn: string): string {
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg !== null) return pkg[1]!;
  const own = /\/dist\/([^/]+)\//.exec(url);
  if (own !== null) return `raftkv ${own[1]}/`;
  if (url.startsWith('node:')) return 'Node.js core';
  if (fn === '(garbage collector)') return 'V8 garbage collector';
  return 'native (syscalls, bindings, V8)';
}

function summarise(profiles: readonly CpuProfile[], opsPerSec: number, cpuUsPerOp: number): Summary {
  const frames = new Map<string, { owner: string; us: number }>();
  const owners = new Map<string, number>();
  let busyUs = 0;
  for (const p of profiles) {
    const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
    p.samples.forEach((id, i) => {
      const cf = byId.get(id)!;
      const us = p.timeDeltas[i] ?? 0;
      if (cf.functionName === '(idle)') return;
      busyUs += us;
      const owner = ownerOf(cf.url, cf.functionName);
      const file = cf.url === '' ? '' : ` ${cf.url.split('/').at(-1)}:${cf.lineNumber + 1}`;
      const frame = `${cf.functionName || '(anonymous)'}${file}`;
      const f = frames.get(frame) ?? { owner, us: 0 };
      f.us += us;
      frames.set(frame, f);
      owners.set(owner, (owners.get(owner) ?? 0) + us);
    });
  }
  const pct = (us: number) => Math.round((1000 * us) / busyUs) / 10;
  return {
    label: args.label,
    date: new Date().toISOString(),
    commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot }).toString().trim(),
    connections: Number(args.connections),
    opsPerSec: Math.round(opsPerSec),
    cpuUsPerOp: Math.round(cpuUsPerOp),
    busyMs: Math.round(busyUs / 1000),
    owners: [...owners]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([owner, us]) => ({ owner, pct: pct(us) })),
    frames: [...frames]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, 15)
      .map(([frame, f]) => ({ frame, owner: f.owner, pct: pct(f.us) })),
  };
}

function render(summaries: readonly Summary[]): string {
  const lines = [
    '## Where a node spends its CPU under PUT load (`npm run bench:profile`)',
    '',
    'V8 CPU profiles of the three nodes of a fresh local cluster (3 shards) while autocannon sends PUTs to any',
    'node, summed over the nodes; shares of the main threads\u2019 non-idle time (self time: a frame counts only',
    'while it runs itself, not its callees). LevelDB\u2019s writes and fsyncs run on libuv\u2019s threads and are not',
    'in these profiles; the CPU per operation (all threads, from /proc) is. A profiled run is slower than a plain',
    'one: compare the rows with each other, not with bench:compare.',
    '',
    '| profile | commit | date | connections | ops/s (profiled) | CPU µs/op | busy ms |',
    '|---|---|---|---:|---:|---:|---:|',
    ...summaries.map(
      (s) =>
        `| ${s.label} | ${s.commit} | ${s.date.slice(0, 10)} | ${s.connections} | ${s.opsPerSec} | ${s.cpuUsPerOp} | ${s.busyMs} |`,
    ),
    '',
  ];
  for (const s of summaries) {
    lines.push(
      `### ${s.label}`,
      '',
      '| owner | share |',
      '|---|---:|',
      ...s.owners.map((o) => `| ${o.owner} | ${o.pct}% |`),
      '',
      '| top frame (self time) | owner | share |',
      '|---|---|---:|',
      ...s.frames.map((f) => `| \`${f.frame.replaceAll('|', '\\|')}\` | ${f.owner} | ${f.pct}% |`),
      '',
    );
  }
  return lines.join('\n');
}

const summary = await profileRun();
mkdirSync(args.dir, { recursive: true });
writeFileSync(join(args.dir, `profile-${args.label}.json`), `${JSON.stringify(summary, null, 2)}\n`);
const all = readdirSync(args.dir)
  .filter((f) => f.startsWith('profile-') && f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(args.dir, f), 'utf8')) as Summary)
  .sort((a, b) => a.date.localeCompare(b.date));
writeSection(args.out, 'bench:profile', render(all));
console.log(
  `${summary.label}: ${summary.opsPerSec} ops/s, ${summary.cpuUsPerOp} µs CPU/op; top: ${summary.owners
    .slice(0, 4)
    .map((o) => `${o.owner} ${o.pct}%`)
    .join(', ')}`,
);
