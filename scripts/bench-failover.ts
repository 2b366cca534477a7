/**
 * `npm run bench:failover`: how long writes stop when a leader dies or freezes, raftkv and etcd
 * side by side, as a new user would try it: three nodes (raftkv with one shard), default
 * settings, one sequential writer sending PUTs round-robin to the members that are up with a
 * 250 ms client timeout, then SIGKILL (or SIGSTOP) of the leader. The window of one trial is the
 * time from the last write acknowledged before the signal to the first acknowledged after it.
 * After each trial the member is started again (or resumed) and the cluster left to settle.
 * Writes the table (median, p90, worst per system and fault) into BENCHMARKS.md.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, sleep, TestCluster, waitFor } from '../harness/index.js';
import { writeSection } from './bench-report.js';
import { startEtcd } from './etcd-cluster.js';

const { values: args } = parseArgs({
  options: {
    trials: { type: 'string', default: '20' },
    faults: { type: 'string', default: 'kill,pause' },
    systems: { type: 'string', default: 'raftkv,etcd' },
    out: { type: 'string', default: join(repoRoot, 'BENCHMARKS.md') },
  },
});
const trials = Number(args.trials);
const faults = args.faults.split(',') as Fault[];
const systems = args.systems.split(',');
const clientTimeoutMs = 250;

type Fault = 'kill' | 'pause';

/** What a trial needs of a system. Members are numbered 0..2. */
interface System {
  readonly name: string;
  /** The member leading (the one shard), or null when none is known. */
  leader(): Promise<number | null>;
  /** One PUT through member `i`; true when acknowledged within the client timeout. */
  put(i: number, key: string): Promise<boolean>;
  fault(i: number, fault: Fault): Promise<void>;
  /** Undoes the fault: starts the member again or resumes it. */
  heal(i: number, fault: Fault): Promise<void>;
  stop(): Promise<void>;
}

const value = Buffer.alloc(100, 'x');

async function timedFetch(url: string, init: RequestInit): Promise<boolean> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(clientTimeoutMs) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

async function raftkvSystem(): Promise<System> {
  const cl = await TestCluster.create({ name: 'bench-failover', shards: 1 });
  await cl.start();
  await cl.waitReady({ timeoutMs: 30_000 });
  const ids = cl.ids;
  return {
    name: 'raftkv',
    leader: async () => {
      const l = await cl.leaderOf(0).catch(() => null);
      return l === null ? null : ids.indexOf(l);
    },
    put: (i, key) =>
      timedFetch(`${cl.spec(ids[i]!).api}/v1/kv/${encodeURIComponent(key)}`, {
        method: 'PUT',
        body: value,
        headers: { 'content-type': 'application/octet-stream' },
      }),
    fault: async (i, fault) => (fault === 'kill' ? cl.kill(ids[i]!) : cl.pause(ids[i]!)),
    heal: async (i, fault) => {
      if (fault === 'kill') await cl.start(ids[i]!);
      else cl.resume(ids[i]!);
      await cl.waitReady({ timeoutMs: 30_000 });
    },
    stop: () => cl.stop(),
  };
}

async function etcdSystem(dir: string): Promise<System> {
  const etcd = await startEtcd(dir, 27_790);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const status = async (i: number) => {
    const res = await fetch(`${etcd.endpoints[i]}/v3/maintenance/status`, {
      method: 'POST',
      body: '{}',
      signal: AbortSignal.timeout(500),
    });
    return (await res.json()) as { leader?: string; header?: { member_id?: string } };
  };
  return {
    name: 'etcd',
    leader: async () => {
      for (let i = 0; i < 3; i++) {
        const s = await status(i).catch(() => null);
        if (s?.leader !== undefined && s.leader === s.header?.member_id) return i;
      }
      return null;
    },
    put: (i, key) =>
      timedFetch(`${etcd.endpoints[i]}/v3/kv/put`, {
        method: 'POST',
        body: JSON.stringify({ key: b64(key), value: value.toString('base64') }),
        headers: { 'content-type': 'application/json' },
      }),
    fault: (i, fault) => etcd.signal(i, fault === 'kill' ? 'SIGKILL' : 'SIGSTOP'),
    heal: async (i, fault) => {
      if (fault === 'kill') etcd.restart(i);
      else await etcd.signal(i, 'SIGCONT');
      await waitFor(async () => (await status(i).catch(() => null))?.leader !== undefined, {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: `etcd member ${i} back`,
      });
    },
    stop: () => etcd.stop(),
  };
}

/** One trial: the write window around a fault of the leader, in ms. */
async function trial(sys: System, fault: Fault, n: number): Promise<number> {
  const leader = await waitFor(async () => sys.leader(), {
    timeoutMs: 30_000,
    intervalMs: 100,
    what: `${sys.name} to have a leader`,
  });
  const down = new Set<number>();
  const acked: number[] = [];
  let faultAt = Number.POSITIVE_INFINITY;
  let running = true;
  let next = 0;
  const writer = (async () => {
    for (let k = 0; running; k++) {
      // Round-robin over the members that are up, as a user's script over its endpoint list.
      let i = next++ % 3;
      while (down.has(i)) i = next++ % 3;
      if (await sys.put(i, `failover/${n}/${k}`)) acked.push(performance.now());
    }
  })();
  await waitFor(async () => acked.length >= 20, { timeoutMs: 10_000, intervalMs: 10, what: 'writes before' });
  down.add(leader);
  faultAt = performance.now();
  await sys.fault(leader, fault);
  await waitFor(async () => acked.filter((t) => t > faultAt).length >= 20, {
    timeoutMs: 20_000,
    intervalMs: 10,
    what: `${sys.name} writes after the ${fault} of its leader`,
  });
  running = false;
  await writer;
  const before = Math.max(...acked.filter((t) => t <= faultAt));
  const after = Math.min(...acked.filter((t) => t > faultAt));
  await sys.heal(leader, fault);
  await sleep(1_000);
  return after - before;
}

const quantile = (xs: readonly number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};

const rows: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'raftkv-failover-'));
try {
  for (const name of systems) {
    const sys = name === 'raftkv' ? await raftkvSystem() : await etcdSystem(join(dir, 'etcd'));
    try {
      for (const fault of faults) {
        const windows: number[] = [];
        for (let n = 0; n < trials; n++) {
          windows.push(await trial(sys, fault, n));
          process.stdout.write(`${name} ${fault} ${n + 1}/${trials}: ${Math.round(windows.at(-1)!)} ms\n`);
        }
        const ms = (x: number) => Math.round(x).toLocaleString('en-US');
        rows.push(
          `| ${name} | ${fault === 'kill' ? 'SIGKILL' : 'SIGSTOP'} of the leader | ${trials} | ${ms(quantile(windows, 0.5))} | ${ms(quantile(windows, 0.9))} | ${ms(Math.max(...windows))} |`,
        );
      }
    } finally {
      await sys.stop();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const md = [
  '## Failover: how long writes stop when the leader dies or freezes (`npm run bench:failover`)',
  '',
  'Three nodes on this machine, default settings (raftkv: one shard; etcd 3.4: its defaults), one sequential',
  `writer sending PUTs round-robin to the members that are up with a ${clientTimeoutMs} ms client timeout. The window is`,
  'the time from the last write acknowledged before the signal to the first acknowledged after it; after each',
  'trial the member is started again (or resumed) and the cluster left to settle. SIGKILL: the process dies and',
  'the kernel resets its connections (a raftkv follower sees that and campaigns at once, with pre-vote); SIGSTOP:',
  'the process freezes with its connections open, and only the election timeout finds it.',
  '',
  `- date: ${new Date().toISOString()}`,
  '',
  '| system | fault | trials | median ms | p90 ms | worst ms |',
  '|---|---|---:|---:|---:|---:|',
  ...rows,
].join('\n');
writeSection(args.out, 'bench:failover', md);
console.log(md);
process.exit(0);
