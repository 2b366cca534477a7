/**
 * `npm run bench:backup -- --gb 1`: backup and restore throughput for about `--gb` GB of data, and
 * what a backup costs a write load running beside it. A fresh local raftkv cluster (3 nodes, 3
 * shards, 3 replicas) is loaded with `--value-kib` KiB values through the client library; then
 *
 * - `raftkv backup` (the CLI as a child process: the download and its verification) is timed end
 *   to end, with its first byte (the answering node collects every shard's snapshot first) and the
 *   end of the download read from the growing `.partial` file;
 * - `--connections` connections of PUTs from autocannon (any node, 100-byte values over `--keys`
 *   other keys) run for `--seconds`, alone and with a backup started `--backup-at` seconds in,
 *   `--rounds` times each, interleaved;
 * - the cluster is stopped (two clusters holding all the data would need twice the memory), and
 *   `raftkv restore` prepares each node's data directory of a new cluster (another clusterId,
 *   other ports) from the first backup, one node after another, each timed; the restored cluster
 *   is then started and sampled keys are read back from it.
 *
 * The nodes' memory (RSS, from /proc), their event-loop stalls (Raft tick intervals, from
 * /metrics, and the longest /healthz answer) and every leader change are read throughout. Writes
 * its section of BENCHMARKS.md; the nodes' output goes to `--logs`. At about 1 GB a backup needs
 * `--request-timeout-ms 60000` (see requestTimeoutNote below).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import type { WriteStream } from 'node:fs';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cliPath, installSignalCleanup, onExit, repoRoot, sleep } from '../harness/index.js';
import { RaftKV } from '../src/client/index.js';
import { type BenchCluster, startRaftkv, writeBenchClusterFile } from './bench-cluster.js';
import { median, writeSection } from './bench-report.js';
import { type IndependentRun, independentLoad, raftkvPut } from './independent-load.js';
import { awaitSettled } from './settled.js';

const { values: args } = parseArgs({
  options: {
    gb: { type: 'string', default: '1' },
    'value-kib': { type: 'string', default: '10' },
    'load-clients': { type: 'string', default: '64' },
    connections: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '15' },
    rounds: { type: 'string', default: '2' },
    'backup-at': { type: 'string', default: '2' },
    keys: { type: 'string', default: '10000' },
    /** The cluster file's requestTimeoutMs (by default not set: 5000 ms); see requestTimeoutNote. */
    'request-timeout-ms': { type: 'string' },
    out: { type: 'string', default: join(repoRoot, 'BENCHMARKS.md') },
    logs: { type: 'string', default: join(repoRoot, 'test-artifacts', 'bench-backup') },
  },
});

const valueBytes = Math.round(Number(args['value-kib']) * 1024);
const dataKeys = Math.ceil((Number(args.gb) * 1e9) / valueBytes);
const loadSeconds = Number(args.seconds);
const backupAtS = Number(args['backup-at']);
const putKeys = Number(args.keys);
const requestTimeoutMs =
  args['request-timeout-ms'] === undefined ? undefined : Number(args['request-timeout-ms']);
const tuning: Record<string, number> = requestTimeoutMs === undefined ? {} : { requestTimeoutMs };

/**
 * Why `--request-timeout-ms`: the client port closes a connection silent for 2 × requestTimeoutMs
 * + 10 s (api/http-limits.ts: 20 s by default), and a node answers `GET /v1/admin/backup` only once
 * it has collected every shard, sending nothing before. A collection that takes longer (about 1 GB
 * on this machine) has its connection closed under it: `raftkv backup` fails with "other side
 * closed" on every node in turn.
 */
const requestTimeoutNote = (ms: number) =>
  `the cluster file sets \`requestTimeoutMs\` to ${ms} (default 5000): the client port closes a connection silent for 2 × requestTimeoutMs + 10 s, and a node sends nothing of a backup until it has collected every shard; with the default (20 s) a backup of about 1 GB failed here with "other side closed" on every node in turn`;

const mb = (bytes: number) => bytes / 1e6;
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const secondsSince = (t: number) => (performance.now() - t) / 1000;
const log = (line: string) => console.log(`[bench:backup ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** The loaded keys (apart from the PUT load's bench/… keys, whose 100-byte values would replace them). */
const dataKey = (i: number) => `backup/${i.toString().padStart(8, '0')}`;
/** Key i's value: its name repeated, so a value read back shows which key it belongs to. */
const dataValue = (i: number) => Buffer.alloc(valueBytes, `${dataKey(i)};`);

// ---------------------------------------------------------------- memory (RSS from /proc)

/** The resident set of process `pid` in bytes, or null when it is gone. */
function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

/** Samples the RSS of named processes every 200 ms; take() gives each one's peak since the last take(). */
class MemoryWatch {
  readonly #pids = new Map<string, number>();
  #peaks = new Map<string, number>();
  readonly #timer = setInterval(() => this.sample(), 200);

  watch(name: string, pid: number): void {
    this.#pids.set(name, pid);
    this.sample();
  }

  unwatch(name: string): void {
    this.sample();
    this.#pids.delete(name);
  }

  sample(): void {
    for (const [name, pid] of this.#pids) {
      const rss = rssBytes(pid);
      if (rss !== null && rss > (this.#peaks.get(name) ?? 0)) this.#peaks.set(name, rss);
    }
  }

  take(): Map<string, number> {
    this.sample();
    const peaks = this.#peaks;
    this.#peaks = new Map();
    return peaks;
  }

  close(): void {
    clearInterval(this.#timer);
  }
}

// ---------------------------------------------------------------- event-loop stalls

/**
 * The longest /healthz answer of each node while it runs (one request at a time per node, every
 * 100 ms): a node's event loop held by synchronous work answers late. The bench process's own loop
 * (autocannon) adds to it under load, so it is an upper bound there.
 */
class HealthProbe {
  #longestMs = new Map<string, number>();
  #running = true;
  readonly #done: Promise<void>[];

  constructor(endpoints: readonly string[]) {
    this.#done = endpoints.map(async (e) => {
      while (this.#running) {
        const t = performance.now();
        try {
          await fetch(`${e}/healthz`, { signal: AbortSignal.timeout(30_000) });
        } catch {}
        const ms = performance.now() - t;
        if (ms > (this.#longestMs.get(e) ?? 0)) this.#longestMs.set(e, ms);
        await sleep(100);
      }
    });
  }

  /** The longest answer of any node since the last take(), in ms. */
  take(): number {
    const longest = Math.max(0, ...this.#longestMs.values());
    this.#longestMs = new Map();
    return longest;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#done);
  }
}

// ---------------------------------------------------------------- the cluster's state, read before and after a phase

interface LeaderChange {
  readonly shard: number;
  readonly term: number;
  readonly from: string | null;
  readonly to: string;
  readonly kind: string;
  readonly detection: string | null;
  readonly electedAtMs: number;
}

interface GroupView {
  readonly shard: number;
  readonly role: string;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly leader: string | null;
  readonly leaderChanges: readonly LeaderChange[];
}

/** What a node's /metrics says of stalls, snapshots and leader changes. */
interface Counters {
  /** Raft tick intervals longer than 0.4 s (the election timeout is 10 ticks of 40 ms), 0.8 s, 1.6 s. */
  readonly ticksOver: readonly [number, number, number];
  readonly overloadRefused: number;
  readonly snapshotsTaken: number;
  readonly snapshotsInstalled: number;
  /** raftkv_leader_changes_total (failover and transfer) by shard. */
  readonly leaderChanges: readonly number[];
}

interface Observation {
  readonly atMs: number;
  readonly groups: readonly GroupView[];
  /** By node endpoint; a node that did not answer in time is missing. */
  readonly counters: ReadonlyMap<string, Counters>;
}

const metricSum = (text: string, name: string, labels: RegExp = /.*/) =>
  text
    .split('\n')
    .filter((l) => l.startsWith(name) && labels.test(l))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);

/**
 * The body of a 200 answer to GET `url`, asked again for up to a minute (an overloaded node
 * refuses /v1/status with 503 while its loop lags); null if none came.
 */
async function answer(url: string): Promise<string | null> {
  const deadline = performance.now() + 60_000;
  let last = '';
  while (performance.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      if (res.ok) return text;
      last = `${res.status} ${text.slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(500);
  }
  log(`no answer from ${url} within 60 s (last: ${last})`);
  return null;
}

function counters(m: string): Counters {
  const bucket = (le: string) =>
    metricSum(m, 'raftkv_tick_interval_seconds_bucket', new RegExp(`le="${le}"`));
  const all = bucket('\\+Inf');
  return {
    ticksOver: [all - bucket('0.4'), all - bucket('0.8'), all - bucket('1.6')],
    overloadRefused: metricSum(m, 'raftkv_overload_refused_total', /reason="event_loop_delay"/),
    snapshotsTaken: metricSum(m, 'raftkv_snapshots_total', /kind="taken"/),
    snapshotsInstalled: metricSum(m, 'raftkv_snapshots_total', /kind="installed"/),
    leaderChanges: [0, 1, 2].map((shard) =>
      metricSum(m, 'raftkv_leader_changes_total', new RegExp(`shard="${shard}",kind="(failover|transfer)"`)),
    ),
  };
}

async function observe(endpoints: readonly string[]): Promise<Observation> {
  const atMs = Date.now();
  const groups: GroupView[] = [];
  const byNode = new Map<string, Counters>();
  for (const e of endpoints) {
    const status = await answer(`${e}/v1/status`);
    if (status !== null) groups.push(...(JSON.parse(status) as { groups: GroupView[] }).groups);
    const m = await answer(`${e}/metrics`);
    if (m !== null) byNode.set(e, counters(m));
  }
  return { atMs, groups, counters: byNode };
}

/**
 * Waits (up to `waitMs`) until every node has applied what its shard's leader has committed;
 * resolves how long it took, or null.
 */
async function caughtUp(endpoints: readonly string[], waitMs: number): Promise<number | null> {
  const started = performance.now();
  while (performance.now() - started < waitMs) {
    const { groups } = await observe(endpoints);
    const shards = [0, 1, 2].map((shard) => groups.filter((g) => g.shard === shard));
    const done = shards.every((gs) => {
      const leader = gs.filter((g) => g.role === 'leader').sort((x, y) => y.term - x.term)[0];
      return leader !== undefined && gs.length === 3 && gs.every((g) => g.applied >= leader.commit);
    });
    if (done) return secondsSince(started);
    await sleep(1_000);
  }
  return null;
}

const leadership = (gs: readonly GroupView[]) =>
  JSON.stringify([...new Map(gs.map((g) => [g.shard, `${g.shard}:${g.leader}@${g.term}`])).values()].sort());

interface PhaseEvents {
  /** Distinct elections (shard and term) any node recorded in the phase (each keeps its last 32 per shard). */
  readonly changes: readonly LeaderChange[];
  /** Leader changes from the nodes' counters: per shard, the most any node counted; summed. */
  readonly counted: number;
  readonly ticksOver: readonly [number, number, number];
  readonly overloadRefused: number;
  readonly snapshotsTaken: number;
  readonly snapshotsInstalled: number;
}

function between(a: Observation, b: Observation): PhaseEvents {
  const changes = new Map<string, LeaderChange>();
  for (const g of b.groups)
    for (const c of g.leaderChanges)
      if (c.electedAtMs >= a.atMs && !changes.has(`${c.shard}@${c.term}`))
        changes.set(`${c.shard}@${c.term}`, c);
  // Per node, what its counters grew by (nodes that answered both times).
  const deltas = [...b.counters].flatMap(([e, cb]) => {
    const ca = a.counters.get(e);
    return ca === undefined ? [] : [{ ca, cb }];
  });
  const sum = (f: (c: Counters) => number) => deltas.reduce((n, { ca, cb }) => n + f(cb) - f(ca), 0);
  return {
    changes: [...changes.values()].sort((x, y) => x.electedAtMs - y.electedAtMs),
    counted: [0, 1, 2].reduce(
      (n, shard) =>
        n + Math.max(0, ...deltas.map(({ ca, cb }) => cb.leaderChanges[shard]! - ca.leaderChanges[shard]!)),
      0,
    ),
    ticksOver: [0, 1, 2].map((i) => sum((c) => c.ticksOver[i]!)) as [number, number, number],
    overloadRefused: sum((c) => c.overloadRefused),
    snapshotsTaken: sum((c) => c.snapshotsTaken),
    snapshotsInstalled: sum((c) => c.snapshotsInstalled),
  };
}

const describeChanges = (cs: readonly LeaderChange[], most = 12) =>
  cs.length === 0
    ? 'none'
    : cs
        .slice(0, most)
        .map(
          (c) =>
            `shard ${c.shard} term ${c.term}: ${c.from ?? '-'} → ${c.to} (${c.kind}${c.detection === null ? '' : `, ${c.detection}`})`,
        )
        .join('; ') + (cs.length > most ? `; … and ${cs.length - most} more` : '');

// ---------------------------------------------------------------- the CLI as a child process

interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
  /** The child's peak RSS, sampled. */
  readonly peakRss: number;
}

/** Runs `node dist/cli.js ...cliArgs` to its exit; `watch` is called every 20 ms while it runs. */
async function runCli(
  name: string,
  cliArgs: readonly string[],
  mem: MemoryWatch,
  watch?: () => void,
): Promise<CliRun> {
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, [cliPath, ...cliArgs], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const forget = onExit(`raftkv ${cliArgs[0]}`, () => child.kill('SIGKILL'));
  mem.watch(name, child.pid!);
  const timer = setInterval(() => watch?.(), 20);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  clearInterval(timer);
  forget();
  const seconds = secondsSince(started);
  mem.unwatch(name);
  return { code, stdout, stderr, seconds, peakRss: mem.take().get(name) ?? 0 };
}

interface BackupRun {
  readonly startedMs: number;
  readonly endedMs: number;
  readonly seconds: number;
  /** From the start to the first byte in the file: the node collects every shard first. */
  readonly firstByteS: number;
  /** From the first byte to the last. */
  readonly downloadS: number;
  /** From the last byte to the CLI's exit: the verification of the whole file, and the rename. */
  readonly verifyS: number;
  readonly fileBytes: number;
  readonly keys: number;
  readonly peakRss: number;
  /** What the CLI said when it failed; null when the backup was made. */
  readonly failed: string | null;
}

/** `raftkv backup --out file` against the cluster, timed. */
async function runBackup(endpoints: readonly string[], file: string, mem: MemoryWatch): Promise<BackupRun> {
  const partial = `${file}.partial`;
  const startedMs = Date.now();
  const t0 = performance.now();
  let firstByte: number | null = null;
  let lastGrowth: number | null = null;
  let size = 0;
  const watch = () => {
    let now: number;
    try {
      now = statSync(partial).size;
    } catch {
      return;
    }
    if (now > size) {
      const t = performance.now();
      firstByte ??= t;
      lastGrowth = t;
      size = now;
    }
  };
  const run = await runCli(
    'backup CLI',
    ['backup', '--out', file, '--endpoints', endpoints.join(',')],
    mem,
    watch,
  );
  const failed = run.code === 0 ? null : `exit ${run.code}: ${run.stderr.trim() || run.stdout.trim()}`;
  const keys = Number(/, (\d+) keys,/.exec(run.stdout)?.[1] ?? Number.NaN);
  const end = t0 + run.seconds * 1000;
  const first = firstByte ?? end;
  const last = lastGrowth ?? end;
  return {
    startedMs,
    endedMs: Date.now(),
    seconds: run.seconds,
    firstByteS: (first - t0) / 1000,
    downloadS: (last - first) / 1000,
    verifyS: (end - last) / 1000,
    fileBytes: failed === null ? statSync(file).size : 0,
    keys,
    peakRss: run.peakRss,
    failed,
  };
}

// ---------------------------------------------------------------- node logs

/** Log messages worth counting: what holds a node back or cuts it off, by a pattern of the line. */
const notable = {
  'stepped down: no quorum heard within an election timeout': /"msg":"stepped down: no quorum/,
  'peer stream closed: a frame over the 64 MiB limit': /a frame of \d+ bytes is over the limit/,
  'snapshot sent to a follower behind compaction (tries)':
    /"msg":"sent snapshot to follower behind compaction"/,
  'snapshot installed from a leader': /"msg":"installed snapshot from leader"/,
  '503 for event-loop lag (logged; repeats are suppressed)': /its event loop lags/,
  '503 for event-loop lag "Infinity ms" (logged)': /its event loop lags Infinity ms/,
} as const;

/** The nodes' output, into one file per cluster and node under --logs, with the notable lines counted. */
class NodeLogs {
  readonly #files = new Map<string, WriteStream>();
  readonly #partial = new Map<string, string>();
  readonly #counts = new Map<string, Map<string, number>>();

  constructor(readonly dir: string) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }

  sink(cluster: string): (id: string, chunk: Buffer) => void {
    return (id, chunk) => {
      const name = `${cluster}-${id}`;
      let f = this.#files.get(name);
      if (f === undefined) {
        f = createWriteStream(join(this.dir, `${name}.log`));
        this.#files.set(name, f);
      }
      f.write(chunk);
      const lines = `${this.#partial.get(name) ?? ''}${chunk.toString('utf8')}`.split('\n');
      this.#partial.set(name, lines.pop()!);
      const counts = this.#counts.get(name) ?? new Map<string, number>();
      this.#counts.set(name, counts);
      for (const line of lines) {
        counts.set('lines', (counts.get('lines') ?? 0) + 1);
        for (const [what, re] of Object.entries(notable))
          if (re.test(line)) counts.set(what, (counts.get(what) ?? 0) + 1);
      }
    };
  }

  /** Per notable message, its count per node of `cluster` ("n1 3, n3 1"), or none. */
  notable(cluster: string): string[] {
    return Object.keys(notable).map((what) => {
      const per = [...this.#counts]
        .filter(([name, c]) => name.startsWith(`${cluster}-`) && (c.get(what) ?? 0) > 0)
        .map(([name, c]) => `${name.slice(cluster.length + 1)} ${c.get(what)}`);
      return `${what}: ${per.length === 0 ? 'none' : per.join(', ')}`;
    });
  }

  /** Lines written per file. */
  get lines(): string {
    return [...this.#counts].map(([name, c]) => `${name} ${c.get('lines') ?? 0}`).join(', ');
  }

  async close(): Promise<void> {
    await Promise.all([...this.#files.values()].map((f) => new Promise((r) => f.end(r))));
  }
}

// ---------------------------------------------------------------- the phases

/** Writes the data keys through `clients` concurrent writers of the client library. */
async function loadData(
  endpoints: readonly string[],
  pids: readonly number[],
  clients: number,
): Promise<number> {
  const kv = new RaftKV({ endpoints, operationTimeoutMs: 60_000 });
  const started = performance.now();
  let next = 0;
  let done = 0;
  let reported = 0;
  try {
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < dataKeys) {
          const i = next++;
          for (let attempt = 1; ; attempt++) {
            try {
              await kv.put(dataKey(i), dataValue(i));
              break;
            } catch (err) {
              const gone = pids.filter((p) => rssBytes(p) === null);
              if (gone.length > 0)
                throw new Error(`node process(es) ${gone.join(', ')} exited during the load`);
              if (attempt >= 3)
                throw new Error(`PUT ${dataKey(i)} failed 3 times: ${(err as Error).message}`);
              log(`PUT ${dataKey(i)} failed (${(err as Error).message}); trying again`);
            }
          }
          done++;
          if (done - reported >= dataKeys / 20) {
            reported = done;
            const s = secondsSince(started);
            const rss = pids.map((p) => f1(mb(rssBytes(p) ?? 0))).join(' / ');
            log(
              `loaded ${int(done)} of ${int(dataKeys)} keys (${f1(mb(done * valueBytes))} MB) in ${f1(s)} s, ${f1(mb(done * valueBytes) / s)} MB/s; node RSS ${rss} MB`,
            );
          }
        }
      }),
    );
  } finally {
    await kv.close();
  }
  return secondsSince(started);
}

/** Reads `sample` keys (the first, the last and random ones between) from the cluster and compares them. */
async function checkSample(
  endpoints: readonly string[],
  sample: number,
): Promise<{ checked: number; equal: number; absentOk: boolean }> {
  const kv = new RaftKV({ endpoints, operationTimeoutMs: 20_000 });
  try {
    const indices = [
      0,
      dataKeys - 1,
      ...Array.from({ length: sample - 2 }, () => Math.floor(Math.random() * dataKeys)),
    ];
    let equal = 0;
    for (const i of indices) {
      const got = await kv.get(dataKey(i));
      if (got !== null && Buffer.from(got.value).equals(dataValue(i))) equal++;
      else
        log(
          `restored cluster: ${dataKey(i)} read back ${got === null ? 'absent' : `as ${got.value.byteLength} other bytes`}`,
        );
    }
    const absentOk = (await kv.get(dataKey(dataKeys))) === null;
    return { checked: indices.length, equal, absentOk };
  } finally {
    await kv.close();
  }
}

interface LoadRun {
  readonly round: number;
  readonly withBackup: boolean;
  readonly load: IndependentRun;
  readonly backup: BackupRun | null;
  /** Seconds the backup ran while the load did. */
  readonly overlapS: number;
  readonly events: PhaseEvents;
  readonly longestHealthzMs: number;
  readonly before: string;
  readonly after: string;
  readonly peaks: ReadonlyMap<string, number>;
}

const nodeNames = ['n1', 'n2', 'n3'];
const peakOfNodes = (peaks: ReadonlyMap<string, number>) =>
  Math.max(0, ...nodeNames.map((n) => peaks.get(n) ?? 0));

// ---------------------------------------------------------------- main

/** startRaftkv, with its nodes SIGKILLed by PID should this process end before stop(). */
async function startCluster(dir: string, o: Parameters<typeof startRaftkv>[1]): Promise<BenchCluster> {
  const c = await startRaftkv(dir, o);
  const forget = onExit(`the nodes in ${dir}`, () => {
    for (const pid of c.pids)
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
  });
  return {
    ...c,
    stop: async () => {
      await c.stop();
      forget();
    },
  };
}

/** Info, not warn: the logs then show every snapshot taken and every leader change with its cause. */
const nodeEnv = { RAFTKV_LOG_LEVEL: 'info' };
const benchStarted = performance.now();
const dir = mkdtempSync(join(tmpdir(), 'raftkv-backup-bench-'));
onExit(`the work directory ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
installSignalCleanup((signal) => log(`${signal}: killing every process this benchmark started`));
const logs = new NodeLogs(args.logs);
const mem = new MemoryWatch();
let cluster: BenchCluster | null = null;
let restored: BenchCluster | null = null;
let probe: HealthProbe | null = null;
try {
  log(
    `data: ${int(dataKeys)} keys of ${valueBytes} bytes (${f1(mb(dataKeys * valueBytes))} MB); work in ${dir}; node logs in ${args.logs}`,
  );
  cluster = await startCluster(join(dir, 'cluster'), {
    shards: 3,
    portBase: 29_000,
    tuning,
    env: nodeEnv,
    onOutput: logs.sink('original'),
  });
  const endpoints = cluster.endpoints;
  for (const [i, pid] of cluster.pids.entries()) mem.watch(nodeNames[i]!, pid);
  const settledMs = await awaitSettled(endpoints, 30_000);
  log(`cluster ready (leaders settled ${settledMs === null ? 'not within 30 s' : `in ${settledMs} ms`})`);
  probe = new HealthProbe(endpoints);

  // 1. The data.
  mem.take();
  probe.take();
  const beforeLoad = await observe(endpoints);
  const loadS = await loadData(endpoints, cluster.pids, Number(args['load-clients']));
  const afterLoad = await observe(endpoints);
  const loadEvents = between(beforeLoad, afterLoad);
  const loadPeaks = mem.take();
  const loadHealthzMs = probe.take();
  // Followers the load left behind catch up, and leaders go back to their preferred nodes, first.
  const caughtUpS = await caughtUp(endpoints, 300_000);
  const settledAfterLoadMs = await awaitSettled(endpoints, 120_000);
  log(
    `after the load: followers caught up ${caughtUpS === null ? 'NOT within 300 s' : `in ${f1(caughtUpS)} s`}, leaders settled ${settledAfterLoadMs === null ? 'NOT within 120 s' : `${f1(settledAfterLoadMs / 1000)} s later`}`,
  );
  const rssAfterLoad = cluster.pids.map((p) => rssBytes(p) ?? 0);
  log(
    `loaded in ${f1(loadS)} s; ${loadEvents.counted} leader changes, ${loadEvents.snapshotsTaken} snapshots taken`,
  );

  // 2. A backup of the idle cluster.
  const backupFile = join(dir, 'idle.backup');
  const beforeIdle = await observe(endpoints);
  mem.take();
  probe.take();
  const idle = await runBackup(endpoints, backupFile, mem);
  const idleEvents = between(beforeIdle, await observe(endpoints));
  const idlePeaks = mem.take();
  const idleHealthzMs = probe.take();
  log(
    idle.failed === null
      ? `backup: ${f1(mb(idle.fileBytes))} MB, ${int(idle.keys)} keys in ${f2(idle.seconds)} s (first byte ${f2(idle.firstByteS)} s, download ${f2(idle.downloadS)} s, verify ${f2(idle.verifyS)} s)`
      : `backup FAILED after ${f1(idle.seconds)} s: ${idle.failed}`,
  );

  // 3. PUT load alone and with a backup beside it, interleaved.
  const runs: LoadRun[] = [];
  for (let round = 1; round <= Number(args.rounds); round++) {
    for (const withBackup of round % 2 === 1 ? [false, true] : [true, false]) {
      const before = await observe(endpoints);
      mem.take();
      probe.take();
      const loadStarted = performance.now();
      const loading = independentLoad({
        urls: endpoints,
        connections: Number(args.connections),
        durationS: loadSeconds,
        keys: putKeys,
        pids: cluster.pids,
        shape: raftkvPut,
      }).then((r) => ({ r, endedAt: performance.now() }));
      let backup: BackupRun | null = null;
      let overlapS = 0;
      if (withBackup) {
        await sleep(backupAtS * 1000);
        const file = join(dir, `load-${round}.backup`);
        const backupStarted = performance.now();
        backup = await runBackup(endpoints, file, mem);
        const backupEnded = backupStarted + backup.seconds * 1000;
        const { endedAt } = await loading;
        overlapS = (Math.min(backupEnded, endedAt) - Math.max(backupStarted, loadStarted)) / 1000;
        rmSync(file, { force: true });
      }
      const { r } = await loading;
      const after = await observe(endpoints);
      const run: LoadRun = {
        round,
        withBackup,
        load: r,
        backup,
        overlapS,
        events: between(before, after),
        longestHealthzMs: probe.take(),
        before: leadership(before.groups),
        after: leadership(after.groups),
        peaks: mem.take(),
      };
      runs.push(run);
      log(
        `round ${round}, ${withBackup ? 'with a backup' : 'no backup'}: ${int(r.opsPerSec)} PUT/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${r.errors} failed${backup === null ? '' : `; backup ${f2(backup.seconds)} s, overlap ${f1(overlapS)} s`}; leader changes: ${describeChanges(run.events.changes)}`,
      );
      // Let compactions the load made finish before the next run.
      await sleep(3_000);
    }
  }

  // 4. Restore into a new cluster, one node after another; start it and read keys back. The
  // original cluster is stopped first: on one machine, two clusters holding all the data each
  // would need twice the memory.
  await probe.stop();
  probe = null;
  await cluster.stop();
  cluster = null;
  for (const n of nodeNames) mem.unwatch(n);
  mem.take();
  let restoreResult: {
    restores: { id: string; run: CliRun }[];
    readyS: number;
    settledMs: number | null;
    sample: { checked: number; equal: number; absentOk: boolean };
    rss: number[];
  } | null = null;
  if (idle.failed === null) {
    const restoredDir = join(dir, 'restored');
    const restoredOptions = {
      shards: 3,
      portBase: 29_200,
      clusterId: `restored-${Date.now()}`,
      readyTimeoutMs: 300_000,
      tuning,
      env: nodeEnv,
      onOutput: logs.sink('restored'),
    };
    const restoredConfig = writeBenchClusterFile(restoredDir, restoredOptions);
    const restores: { id: string; run: CliRun }[] = [];
    for (const id of nodeNames) {
      const run = await runCli(
        `restore ${id}`,
        [
          'restore',
          '--from',
          backupFile,
          '--config',
          restoredConfig,
          '--id',
          id,
          '--data',
          join(restoredDir, id),
        ],
        mem,
      );
      if (run.code !== 0)
        throw new Error(
          `raftkv restore --id ${id} exited ${run.code}: ${run.stderr.trim() || run.stdout.trim()}`,
        );
      restores.push({ id, run });
      log(
        `restore ${id}: ${f2(run.seconds)} s, peak RSS ${f1(mb(run.peakRss))} MB: ${run.stdout.split('\n')[0]}`,
      );
    }
    const startedRestored = performance.now();
    restored = await startCluster(restoredDir, restoredOptions);
    const restoredReadyS = secondsSince(startedRestored);
    for (const [i, pid] of restored.pids.entries()) mem.watch(`restored ${nodeNames[i]}`, pid);
    const restoredSettledMs = await awaitSettled(restored.endpoints, 60_000);
    const sample = await checkSample(restored.endpoints, 200);
    const restoredRss = restored.pids.map((p) => rssBytes(p) ?? 0);
    log(
      `restored cluster ready in ${f1(restoredReadyS)} s; ${sample.equal} of ${sample.checked} sampled keys equal; node RSS ${restoredRss.map((b) => f1(mb(b))).join(' / ')} MB`,
    );
    await restored.stop();
    restored = null;
    for (const n of nodeNames) mem.unwatch(`restored ${n}`);
    mem.take();
    rmSync(restoredDir, { recursive: true, force: true });
    restoreResult = {
      restores,
      readyS: restoredReadyS,
      settledMs: restoredSettledMs,
      sample,
      rss: restoredRss,
    };
  }
  rmSync(backupFile, { force: true });

  // 5. The report.
  const totalS = secondsSince(benchStarted);
  const dataMb = mb(dataKeys * valueBytes);
  const node = (peaks: ReadonlyMap<string, number>) =>
    nodeNames.map((n) => f1(mb(peaks.get(n) ?? 0))).join(' / ');
  const restoreRows = (restoreResult?.restores ?? []).map(
    ({ id, run }) =>
      `| restore ${id} (CLI: verify, check every shard, write its 3 replicas) | ${f1(mb(idle.fileBytes))} | ${int(idle.keys)} | ${f2(run.seconds)} | ${f1(mb(idle.fileBytes) / run.seconds)} | ${int(idle.keys / run.seconds)} | ${f1(mb(run.peakRss))} |`,
  );
  const restoreTotalS = (restoreResult?.restores ?? []).reduce((n, r) => n + r.run.seconds, 0);
  const backupCell = (b: BackupRun) =>
    b.failed === null ? `${f1(b.seconds)} (${f1(mb(b.fileBytes))} MB)` : `FAILED after ${f1(b.seconds)}`;
  const loadRow = (r: LoadRun) =>
    `| ${r.round} | ${r.withBackup ? 'yes' : 'no'} | ${int(r.load.opsPerSec)} | ${r.load.p50Ms} | ${r.load.p99Ms} | ${r.load.errors} | ${r.backup === null ? '–' : backupCell(r.backup)} | ${r.backup === null ? '–' : f1(r.overlapS)} | ${r.events.changes.length} | ${r.events.ticksOver.join(' / ')} | ${int(r.longestHealthzMs)} | ${r.events.snapshotsTaken} | ${f1(mb(peakOfNodes(r.peaks)))} |`;
  const summaryRow = (withBackup: boolean) => {
    const rs = runs.filter((r) => r.withBackup === withBackup);
    if (rs.length === 0) return [];
    return [
      `| median of ${rs.length} | ${withBackup ? 'yes' : 'no'} | ${int(median(rs.map((r) => r.load.opsPerSec)))} | ${median(rs.map((r) => r.load.p50Ms))} | ${median(rs.map((r) => r.load.p99Ms))} | ${rs.reduce((n, r) => n + r.load.errors, 0)} (total) | | | ${rs.reduce((n, r) => n + r.events.changes.length, 0)} (total) | | | | |`,
    ];
  };
  const phases = [
    { phase: 'backup of the idle cluster', events: idleEvents },
    ...runs.map((r) => ({
      phase: `round ${r.round} ${r.withBackup ? 'with backup' : 'no backup'}`,
      events: r.events,
    })),
  ].filter((p) => p.events.changes.length > 0);
  const cmd = `npm run bench:backup${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const md = [
    '## Backup and restore of a large cluster (`npm run bench:backup`)',
    '',
    `A fresh local cluster (3 nodes, 3 shards, 3 replicas) loaded with ${int(dataKeys)} keys of ${valueBytes} bytes`,
    `(${f1(dataMb)} MB of values; every node holds every shard). Backup: \`raftkv backup --out FILE\` as a child`,
    "process, end to end: the answering node collects every shard's snapshot from its leader before it sends",
    'a byte (first byte), the download, then the CLI verifies every digest of the whole file. Restore, once the',
    'original cluster is stopped: `raftkv restore` of each node of a new cluster (another clusterId and ports)',
    'from that file, one after another; the restored cluster is then started and sampled keys read back.',
    `Write load: autocannon PUTs (any node, 100-byte values over ${putKeys} other keys), ${args.connections} connections for`,
    `${loadSeconds} s, alone and with a backup started ${backupAtS} s in, interleaved over ${args.rounds} rounds. MB are 10^6 bytes;`,
    "RSS is read from /proc every 200 ms. Leader changes are elections (distinct shard and term) in any node's",
    'record; a tick gap is a Raft tick interval longer than 0.4 s (the election timeout is 10 ticks of 40 ms), 0.8 s',
    "or 1.6 s: the node's event loop was held that long.",
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${process.platform}; Node.js ${process.version}; all nodes, the CLI and the load generator on the same cores`,
    `- command: \`${cmd}\` (whole run ${f1(totalS / 60)} min)`,
    ...(requestTimeoutMs === undefined ? [] : [`- ${requestTimeoutNote(requestTimeoutMs)}`]),
    `- data load (setup, not a measured figure): ${f1(loadS)} s, ${f1(dataMb / loadS)} MB/s, ${int(dataKeys / loadS)} keys/s through the client library with ${args['load-clients']} writers; peak node RSS ${node(loadPeaks)} MB (n1 / n2 / n3), after the load ${rssAfterLoad.map((b) => f1(mb(b))).join(' / ')} MB; ${loadEvents.snapshotsTaken} snapshots taken, ${loadEvents.snapshotsInstalled} sent to a follower behind compaction and installed; ${loadEvents.counted} leader changes (the nodes' counters); Raft tick gaps over 0.4 / 0.8 / 1.6 s: ${loadEvents.ticksOver.join(' / ')}; ${loadEvents.overloadRefused} requests refused for event-loop lag; longest /healthz answer ${int(loadHealthzMs)} ms`,
    `- after the load, every follower had applied its leader's commit index ${caughtUpS === null ? 'NOT within 300 s' : `${f1(caughtUpS)} s later`} and every shard was led by its preferred node ${settledAfterLoadMs === null ? 'NOT within 120 s more' : `${f1(settledAfterLoadMs / 1000)} s after that`}; the measurements below start then`,
    '',
    ...(idle.failed !== null
      ? [
          `**The backup of the idle cluster failed** after ${f1(idle.seconds)} s (\`raftkv backup\` ${idle.failed}); so no restore was tried.`,
        ]
      : [
          '| step | file MB | keys | seconds | MB/s | keys/s | peak RSS of the CLI, MB |',
          '|---|---:|---:|---:|---:|---:|---:|',
          `| backup (CLI, idle cluster), end to end | ${f1(mb(idle.fileBytes))} | ${int(idle.keys)} | ${f2(idle.seconds)} | ${f1(mb(idle.fileBytes) / idle.seconds)} | ${int(idle.keys / idle.seconds)} | ${f1(mb(idle.peakRss))} |`,
          `| … of which to the first byte (the node collects every shard) | | | ${f2(idle.firstByteS)} | | | |`,
          `| … of which the download | | | ${f2(idle.downloadS)} | ${f1(mb(idle.fileBytes) / idle.downloadS)} | | |`,
          `| … of which verifying the file | | | ${f2(idle.verifyS)} | ${f1(mb(idle.fileBytes) / idle.verifyS)} | | |`,
          ...restoreRows,
          `| restore, all 3 nodes one after another | ${f1(mb(3 * idle.fileBytes))} | ${int(3 * idle.keys)} | ${f2(restoreTotalS)} | ${f1(mb(3 * idle.fileBytes) / restoreTotalS)} | ${int((3 * idle.keys) / restoreTotalS)} | |`,
        ]),
    '',
    `During the idle backup: node RSS peaks ${node(idlePeaks)} MB; Raft tick gaps over 0.4 / 0.8 / 1.6 s: ${idleEvents.ticksOver.join(' / ')}; longest /healthz answer ${int(idleHealthzMs)} ms; leader changes: ${describeChanges(idleEvents.changes)}.`,
    ...(restoreResult === null
      ? []
      : [
          `The restored cluster answered /readyz on every node ${f1(restoreResult.readyS)} s after its start (leaders settled ${restoreResult.settledMs === null ? 'not within 60 s' : `${f1(restoreResult.settledMs / 1000)} s later`}); ${restoreResult.sample.equal} of ${restoreResult.sample.checked} sampled keys (the first, the last, random ones) read back with their values, the key after the last ${restoreResult.sample.absentOk ? 'absent' : 'PRESENT'}; node RSS ${restoreResult.rss.map((b) => f1(mb(b))).join(' / ')} MB.`,
        ]),
    '',
    `### ${args.connections} connections of PUTs, with and without a backup`,
    '',
    '| round | backup | PUT/s | p50 ms | p99 ms | failed | backup s (file) | overlap s | leader changes | tick gaps > 0.4 / 0.8 / 1.6 s | longest /healthz ms | snapshots taken | peak node RSS MB |',
    '|---:|---|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---:|',
    ...runs.map(loadRow),
    ...summaryRow(false),
    ...summaryRow(true),
    '',
    `- leaders and terms before the first run: ${runs[0]?.before ?? '–'}; after the last: ${runs.at(-1)?.after ?? '–'}`,
    `- leader changes after the data load: ${phases.length === 0 ? 'none' : phases.map((p) => `${p.phase}: ${describeChanges(p.events.changes)}`).join('; ')}`,
    `- requests refused for event-loop lag (503) after the data load: ${[idleEvents, ...runs.map((r) => r.events)].reduce((n, e) => n + e.overloadRefused, 0)}`,
    `- in the original cluster's logs (the whole run, node logs at info level): ${logs.notable('original').join('; ')}`,
    `- in the restored cluster's logs: ${logs.notable('restored').join('; ')}`,
  ].join('\n');
  writeSection(args.out, 'bench:backup', md);
  console.log(md);
} finally {
  await probe?.stop();
  await restored?.stop();
  await cluster?.stop();
  mem.close();
  await logs.close();
  log(`node log lines: ${logs.lines || 'none'}`);
  rmSync(dir, { recursive: true, force: true });
}
