/**
 * `npm run bench:watch [-- --seconds 10 --rounds 3 --watchers 0,1,100,1000]`: what watchers cost
 * and how fast they hear of a write, raftkv and etcd side by side. A fresh local raftkv cluster
 * (3 nodes, 3 shards) and a fresh local three-member etcd; for each system and each number W of
 * watchers (spread round-robin over the nodes/members, all watching the prefix the load writes
 * under), the same 64-connection PUT load from the independent generator (autocannon, any node)
 * runs for a fixed time. Each run reports PUT ops/s, the CPU of the system's server processes per
 * PUT (from /proc), the events delivered per second summed over all watchers, and the extra CPU
 * per PUT relative to no watcher. A low-rate prober (sequential PUTs of unique keys, round-robin
 * over the nodes) times each PUT's acknowledgement; watcher 0 times the arrival of its event: the
 * difference, p50/p99, idle and under the load. With 1,000 watchers the RSS of every server
 * process is read before they open, while they idle, at its peak under the load and after they
 * closed. Every watcher's count is checked against the acknowledged PUTs (missing events), the
 * ends of streams are counted (raftkv `too_slow`), and leader changes are counted (terms before
 * and after every run). Writes its section of BENCHMARKS.md.
 *
 * The watchers are raw HTTP streams (raftkv: `GET /v1/watch`, Server-Sent Events; etcd: `POST
 * /v3/watch` on its HTTP/JSON gateway, one JSON object per line), read by two child processes
 * of this script: one holds watchers 0..2 (one per node, parsed in full: every event's shard and
 * index, or etcd revision, is kept, so duplicates and gaps between them show) and the prober; the
 * other holds watchers 3..W-1 (only counted: the events' markers are counted in the raw bytes), so
 * that the bulk reading delays neither the prober's clock nor autocannon.
 */

import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { request } from 'undici';
import { installSignalCleanup, onExit, repoRoot, sleep } from '../harness/index.js';
import { SseParser } from '../src/protocol/index.js';
import { startRaftkv } from './bench-cluster.js';
import { writeSection } from './bench-report.js';
import { etcdTerm, raftkvTerms } from './cluster-terms.js';
import { startEtcd } from './etcd-cluster.js';
import { benchKey, benchValue, type RequestShape, raftkvPut } from './independent-load.js';
import { cpuSince } from './proc-cpu.js';
import { awaitSettled } from './settled.js';

type SystemName = 'raftkv' | 'etcd';

/** Every key the load and the prober write starts with this; every watcher watches it. */
const prefix = 'bench/';
/** The prober's keys (under `prefix`, so every watcher sees them too). */
const probePrefix = 'bench/probe/';
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
/** etcd's range end of a prefix: the prefix with its last byte plus one. */
const rangeEnd = (p: string) => {
  const b = Buffer.from(p);
  b[b.length - 1]! += 1;
  return b;
};

const etcdPut: RequestShape = {
  method: 'POST',
  path: () => '/v3/kv/put',
  body: (k) => JSON.stringify({ key: b64(k), value: b64(benchValue) }),
  headers: { 'content-type': 'application/json' },
};
const putShapes: Record<SystemName, RequestShape> = { raftkv: raftkvPut, etcd: etcdPut };

// ---------------------------------------------------------------------------------------------
// The watch clients (child processes of this script).

/** What a watch client process is asked to do (passed as JSON in its argv). */
interface ClientSpec {
  readonly system: SystemName;
  readonly urls: readonly string[];
  /** The watchers this process holds; watcher i reads from urls[i % urls.length]. */
  readonly watchers: readonly number[];
  /** Whether this process runs the prober and parses its watchers in full (watcher 0 is the prober's). */
  readonly probe: boolean;
  /** Prober PUTs per second. */
  readonly rate: number;
}

type ClientRequest =
  | { readonly id: number; readonly type: 'status' }
  | { readonly id: number; readonly type: 'probe-start'; readonly label: string }
  | { readonly id: number; readonly type: 'probe-stop' }
  | { readonly id: number; readonly type: 'latency'; readonly label: string }
  | { readonly id: number; readonly type: 'check' }
  | { readonly id: number; readonly type: 'close' };

interface ClientStatus {
  readonly ready: number;
  readonly open: number;
  /** Events received so far, per watcher (in the order of spec.watchers). */
  readonly counts: readonly number[];
  /** The same, of the watchers still open. */
  readonly openCounts: readonly number[];
  readonly bytes: number;
  /** Why watchers ended, with how many. */
  readonly ended: Readonly<Record<string, number>>;
  /** The first few ends, with the watcher's last bytes. */
  readonly endSamples: readonly string[];
}

/** A watcher parsed in full (the first three: one per node), with every event's identity. */
interface FullWatcher {
  readonly index: number;
  /** Event identity → key. */
  readonly ids: Map<string, string>;
  parsed: number;
  readonly duplicates: string[];
  watcher: Watcher | null;
}

/** What a watcher parsed in full saw, against the union of what all of them saw. */
interface FullCheck {
  readonly index: number;
  readonly node: number;
  readonly ended: string | null;
  readonly parsed: number;
  readonly distinct: number;
  readonly duplicates: number;
  readonly duplicateSamples: readonly string[];
  /** Events another watcher parsed in full saw and this one did not. */
  readonly missing: number;
  readonly missingSamples: readonly string[];
}

interface ProbeStats {
  readonly sent: number;
  readonly acked: number;
  readonly failed: number;
  readonly failures: readonly string[];
}

interface LatencyStats extends ProbeStats {
  /** Event arrival minus acknowledgement, ms, per acknowledged probe whose event came. */
  readonly latenciesMs: readonly number[];
  /** Acknowledged probes whose event never came to watcher 0. */
  readonly missing: number;
}

const markers: Record<SystemName, { event: Buffer; ready: Buffer }> = {
  raftkv: { event: Buffer.from('event: put\n'), ready: Buffer.from('event: progress') },
  etcd: { event: Buffer.from('"kv":{'), ready: Buffer.from('"created":true') },
};

function occurrences(b: Buffer, p: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(p); i >= 0; i = b.indexOf(p, i + p.length)) n++;
  return n;
}

interface Watcher {
  events: number;
  bytes: number;
  ready: boolean;
  ended: string | null;
  close(): void;
}

/**
 * Opens one watch stream; counts the events' markers in the raw bytes (a marker split between
 * two chunks is counted once: the last marker length - 1 bytes of each chunk are kept for the
 * next, too few to hold a whole marker). `onText`, when given, gets the stream as text too (the
 * watchers parsed in full).
 */
function openWatcher(system: SystemName, url: string, onText?: (text: string) => void): Watcher {
  const { event, ready } = markers[system];
  const keep = event.length - 1;
  let carry = Buffer.alloc(0);
  let tail = Buffer.alloc(0);
  const w: Watcher = { events: 0, bytes: 0, ready: false, ended: null, close: () => req.destroy() };
  const end = (why: string) => {
    if (w.ended !== null) return;
    const last = tail.toString('utf8');
    w.ended = /too_slow/.test(last)
      ? 'too_slow'
      : /event: error|"canceled":true|"error"/.test(last)
        ? `error: ${last.slice(-300).replace(/\s+/g, ' ')}`
        : why;
  };
  const u = new URL(url);
  const req =
    system === 'raftkv'
      ? http.request(`${u.origin}/v1/watch?prefix=${encodeURIComponent(prefix)}`, { agent: false })
      : http.request(`${u.origin}/v3/watch`, {
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json' },
        });
  req.on('response', (res) => {
    if (res.statusCode !== 200) {
      end(`HTTP ${res.statusCode}`);
      res.resume();
      return;
    }
    res.on('data', (chunk: Buffer) => {
      w.bytes += chunk.length;
      const b = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      w.events += occurrences(b, event);
      carry = Buffer.from(b.subarray(Math.max(0, b.length - keep)));
      const t = Buffer.concat([tail, chunk]);
      if (!w.ready && t.includes(ready)) w.ready = true;
      tail = Buffer.from(t.subarray(Math.max(0, t.length - 512)));
      onText?.(chunk.toString('utf8'));
    });
    res.on('close', () => end('closed by the server'));
    res.on('error', (e) => end(`stream error: ${e.message}`));
  });
  req.on('error', (e) => end(`request error: ${e.message}`));
  req.end(
    system === 'etcd'
      ? JSON.stringify({ create_request: { key: b64(prefix), range_end: b64(rangeEnd(prefix)) } })
      : undefined,
  );
  return w;
}

/**
 * Calls `onEvent` with each event a stream parsed in full reports, as it arrives: its identity
 * (raftkv: shard and log index; etcd: mod_revision) and its key.
 */
function eventReader(system: SystemName, onEvent: (id: string, key: string) => void): (text: string) => void {
  if (system === 'raftkv') {
    const parser = new SseParser((e) => {
      if (e.event !== 'put' && e.event !== 'delete') return;
      const d = JSON.parse(e.data) as { key: string; shard: number; index: number };
      onEvent(`shard ${d.shard} index ${d.index}`, d.key);
    });
    return (text) => parser.push(text);
  }
  let buffer = '';
  return (text) => {
    buffer += text;
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line === '') continue;
      const m = JSON.parse(line) as {
        result?: { events?: { kv?: { key?: string; mod_revision?: string } }[] };
      };
      for (const e of m.result?.events ?? [])
        if (e.kv?.key !== undefined)
          onEvent(`revision ${e.kv.mod_revision}`, Buffer.from(e.kv.key, 'base64').toString('utf8'));
    }
  };
}

async function probePut(system: SystemName, url: string, key: string): Promise<void> {
  const shape = putShapes[system];
  const res = await request(new URL(shape.path(key), url), {
    method: shape.method,
    body: shape.body?.(key),
    ...(shape.headers === undefined ? {} : { headers: { ...shape.headers } }),
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  const text = await res.body.text();
  if (res.statusCode < 200 || res.statusCode >= 300)
    throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
}

async function watchClient(spec: ClientSpec): Promise<void> {
  const { system, urls } = spec;
  /** Per probe key: when it was acknowledged and when watcher 0 saw it (performance.now()). */
  const probes = new Map<string, { label: string; ack?: number; event?: number }>();
  const onProbeKey = (key: string) => {
    if (!key.startsWith(probePrefix)) return;
    const p = probes.get(key);
    if (p !== undefined && p.event === undefined) p.event = performance.now();
  };
  const watchers: Watcher[] = [];
  const full: FullWatcher[] = [];
  // Open in batches: a thousand connects at once would overflow the servers' accept backlog.
  for (let from = 0; from < spec.watchers.length; from += 100) {
    const batch = spec.watchers.slice(from, from + 100).map((i) => {
      if (!spec.probe) return openWatcher(system, urls[i % urls.length]!);
      const f: FullWatcher = { index: i, ids: new Map(), parsed: 0, duplicates: [], watcher: null };
      full.push(f);
      const onText = eventReader(system, (id, key) => {
        f.parsed++;
        if (f.ids.has(id)) f.duplicates.push(`${id} ${key}`);
        else f.ids.set(id, key);
        if (i === 0) onProbeKey(key);
      });
      f.watcher = openWatcher(system, urls[i % urls.length]!, onText);
      return f.watcher;
    });
    watchers.push(...batch);
    const deadline = performance.now() + 30_000;
    while (performance.now() < deadline && !batch.every((w) => w.ready || w.ended !== null)) await sleep(20);
  }

  const stats: Record<string, { sent: number; acked: number; failed: number; failures: string[] }> = {};
  let probing: Promise<void> | null = null;
  let stopProbing = false;
  const probeLoop = async (label: string) => {
    const s = stats[label] ?? { sent: 0, acked: 0, failed: 0, failures: [] };
    stats[label] = s;
    const interval = 1000 / spec.rate;
    let next = performance.now();
    for (let seq = 0; !stopProbing; seq++) {
      const key = `${probePrefix}${label}/${String(seq).padStart(6, '0')}`;
      const entry: { label: string; ack?: number; event?: number } = { label };
      probes.set(key, entry);
      s.sent++;
      try {
        await probePut(system, urls[seq % urls.length]!, key);
        entry.ack = performance.now();
        s.acked++;
      } catch (err) {
        s.failed++;
        if (s.failures.length < 5) s.failures.push((err as Error).message);
      }
      next += interval;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      else next = performance.now();
    }
  };

  const status = (): ClientStatus => {
    const ended: Record<string, number> = {};
    const endSamples: string[] = [];
    for (const w of watchers) {
      if (w.ended === null) continue;
      const kind = w.ended.startsWith('error:') ? 'error' : w.ended;
      ended[kind] = (ended[kind] ?? 0) + 1;
      if (endSamples.length < 3) endSamples.push(w.ended);
    }
    return {
      ready: watchers.filter((w) => w.ready).length,
      open: watchers.filter((w) => w.ended === null).length,
      counts: watchers.map((w) => w.events),
      openCounts: watchers.filter((w) => w.ended === null).map((w) => w.events),
      bytes: watchers.reduce((n, w) => n + w.bytes, 0),
      ended,
      endSamples,
    };
  };

  const answer = async (m: ClientRequest): Promise<unknown> => {
    switch (m.type) {
      case 'status':
        return status();
      case 'probe-start':
        stopProbing = false;
        probing = probeLoop(m.label);
        return null;
      case 'probe-stop': {
        stopProbing = true;
        await probing;
        probing = null;
        return null;
      }
      case 'latency': {
        const s = stats[m.label] ?? { sent: 0, acked: 0, failed: 0, failures: [] };
        const latenciesMs: number[] = [];
        let missing = 0;
        for (const p of probes.values()) {
          if (p.label !== m.label || p.ack === undefined) continue;
          if (p.event === undefined) missing++;
          else latenciesMs.push(p.event - p.ack);
        }
        return { ...s, latenciesMs, missing } satisfies LatencyStats;
      }
      case 'check': {
        const union = new Map<string, string>();
        for (const f of full) for (const [id, key] of f.ids) union.set(id, key);
        return full.map((f): FullCheck => {
          const missing = [...union].filter(([id]) => !f.ids.has(id));
          return {
            index: f.index,
            node: f.index % urls.length,
            ended: f.watcher?.ended ?? null,
            parsed: f.parsed,
            distinct: f.ids.size,
            duplicates: f.duplicates.length,
            duplicateSamples: f.duplicates.slice(0, 5),
            missing: missing.length,
            missingSamples: missing.slice(0, 5).map(([id, key]) => `${id} ${key}`),
          };
        });
      }
      case 'close':
        for (const w of watchers) w.close();
        return null;
    }
  };
  process.on('message', (m: ClientRequest) => {
    void answer(m).then((result) => process.send?.({ id: m.id, result }));
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ id: 0, result: 'started' });
}

// ---------------------------------------------------------------------------------------------
// The orchestration (the main process).

/** A watch client process, asked questions over IPC. */
class Client {
  readonly child: ChildProcess;
  readonly #waiting = new Map<number, (v: unknown) => void>();
  #next = 1;
  readonly started: Promise<void>;
  readonly #forget: () => void;

  constructor(spec: ClientSpec) {
    this.child = fork(fileURLToPath(import.meta.url), ['--watch-client', JSON.stringify(spec)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const pid = this.child.pid!;
    this.#forget = onExit(`watch client ${pid}`, () => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    });
    this.started = new Promise((resolveStarted, reject) => {
      this.#waiting.set(0, () => resolveStarted());
      this.child.once('exit', (code) => reject(new Error(`watch client ${pid} exited with ${code}`)));
    });
    this.child.on('message', (m: { id: number; result: unknown }) => {
      const w = this.#waiting.get(m.id);
      this.#waiting.delete(m.id);
      w?.(m.result);
    });
  }

  ask<T>(m: { type: string; label?: string }): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolveAnswer, reject) => {
      const timer = setTimeout(() => reject(new Error(`watch client: no answer to ${m.type}`)), 120_000);
      this.#waiting.set(id, (v) => {
        clearTimeout(timer);
        resolveAnswer(v as T);
      });
      this.child.send({ ...m, id });
    });
  }

  /** Ends it by its PID (SIGTERM, then SIGKILL after 5 s) and waits for its exit. */
  async stop(): Promise<void> {
    const c = this.child;
    if (c.exitCode === null && c.signalCode === null) {
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      try {
        await Promise.race([this.ask({ type: 'close' }), sleep(5_000)]);
      } catch {}
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    this.#forget();
  }
}

interface System {
  readonly name: SystemName;
  readonly endpoints: readonly string[];
  readonly pids: readonly number[];
  /** The leaders' terms, to compare before and after a run. */
  terms(): Promise<string>;
}

/** Leader changes every raftkv node recorded since `sinceMs` (bench:soak's count). */
async function raftkvLeaderChangesSince(endpoints: readonly string[], sinceMs: number): Promise<number> {
  let n = 0;
  for (const e of endpoints) {
    const s = (await (await fetch(`${e}/v1/status`)).json()) as {
      groups: { leaderChanges?: { electedAtMs: number }[] }[];
    };
    for (const g of s.groups) n += (g.leaderChanges ?? []).filter((c) => c.electedAtMs >= sinceMs).length;
  }
  return n;
}

/** VmRSS of a process, in MiB. */
function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? Number.NaN : Number(m[1]) / 1024;
}

interface LoadRun {
  readonly ok: number;
  readonly errors: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuSeconds: number;
  readonly wallSeconds: number;
}

/** autocannon, as independent-load.ts drives it, with the raw counts the checks need. */
async function putLoad(sys: System, connections: number, durationS: number, keys: number): Promise<LoadRun> {
  const shape = putShapes[sys.name];
  const used = cpuSince(sys.pids);
  const started = performance.now();
  const result = await autocannon({
    url: sys.endpoints as unknown as string,
    connections,
    duration: durationS,
    requests: [
      {
        method: shape.method,
        ...(shape.headers === undefined ? {} : { headers: { ...shape.headers } }),
        setupRequest: (req) => {
          const key = benchKey(Math.floor(Math.random() * keys));
          return {
            ...req,
            path: shape.path(key),
            ...(shape.body === undefined ? {} : { body: shape.body(key) }),
          };
        },
      },
    ],
  });
  const cpuSeconds = used().reduce((a, b) => a + b, 0);
  const ok = result['2xx'];
  return {
    ok,
    errors: result.non2xx + result.errors + result.timeouts,
    opsPerSec: ok / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    cpuSeconds,
    wallSeconds: (performance.now() - started) / 1000,
  };
}

interface RunResult {
  readonly system: SystemName;
  readonly watchers: number;
  readonly round: number;
  readonly load: LoadRun;
  /** Server CPU per acknowledged PUT (load and prober), µs. */
  readonly cpuUsPerPut: number;
  /** Watch clients' CPU per acknowledged PUT, µs. */
  readonly clientCpuUsPerPut: number;
  /** Events received by all watchers while the load ran, per second. */
  readonly eventsPerSec: number;
  readonly mbPerSec: number;
  /** Share of the events due by the end of the load that had come by then. */
  readonly deliveredByEnd: number;
  /** From the end of the load until every open watcher had every acknowledged PUT's event (null: never). */
  readonly drainSeconds: number | null;
  /** Open watchers with fewer events than the one with most when the drain ended: their shortfall, summed, and how many. */
  readonly missingEvents: number;
  readonly watchersShort: number;
  /** Acknowledged PUTs beyond what the watcher with most events got. */
  readonly lostEverywhere: number;
  /** When the watchers' counts differ: each count with how many watchers have it. */
  readonly countSpread: string | null;
  readonly fullChecks: readonly FullCheck[];
  readonly ended: Readonly<Record<string, number>>;
  readonly endSamples: readonly string[];
  readonly notReady: number;
  readonly idleLatency: LatencyStats | null;
  readonly loadLatency: LatencyStats | null;
  readonly probeFailures: readonly string[];
  readonly leaderChanged: boolean;
  /** Per server process, MiB. */
  readonly rss: {
    readonly before: readonly number[];
    readonly idle: readonly number[];
    readonly peak: readonly number[];
    readonly after: readonly number[];
  };
}

interface Options {
  readonly seconds: number;
  readonly idleSeconds: number;
  readonly connections: number;
  readonly keys: number;
  readonly rate: number;
}

const log = (s: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);

/** One run: W watchers opened, idle probe, the PUT load with the prober, the drain, the close. */
async function run(sys: System, w: number, round: number, o: Options): Promise<RunResult> {
  const termsBefore = await sys.terms();
  const rss = {
    before: sys.pids.map(rssMiB),
    idle: [] as number[],
    peak: [] as number[],
    after: [] as number[],
  };
  const base = { system: sys.name, urls: sys.endpoints, rate: o.rate };
  // Watchers 0..2 (one per node) are parsed in full beside the prober; the rest are counted.
  const prober = new Client({ ...base, watchers: range(0, Math.min(w, fullWatchers)), probe: true });
  const bulk =
    w > fullWatchers ? new Client({ ...base, watchers: range(fullWatchers, w), probe: false }) : null;
  const clients = bulk === null ? [prober] : [prober, bulk];
  try {
    await Promise.all(clients.map((c) => c.started));
    const statuses = () => Promise.all(clients.map((c) => c.ask<ClientStatus>({ type: 'status' })));
    const opened = await statuses();
    const notReady = w - opened.reduce((n, s) => n + s.ready, 0);
    if (notReady > 0)
      log(`  ${notReady} of ${w} watchers did not start: ${opened.flatMap((s) => s.endSamples)}`);
    await sleep(3_000);
    rss.idle = sys.pids.map(rssMiB);

    let idleLatency: LatencyStats | null = null;
    if (w >= 1 && o.idleSeconds > 0) {
      await prober.ask({ type: 'probe-start', label: 'idle' });
      await sleep(o.idleSeconds * 1000);
      await prober.ask({ type: 'probe-stop' });
      await sleep(1_000);
      idleLatency = await prober.ask<LatencyStats>({ type: 'latency', label: 'idle' });
    }

    const atStart = await statuses();
    const clientCpu = cpuSince(clients.map((c) => c.child.pid!));
    const peak = [...rss.idle];
    const sampler = setInterval(() => {
      sys.pids.forEach((pid, i) => {
        peak[i] = Math.max(peak[i]!, rssMiB(pid));
      });
    }, 500);
    await prober.ask({ type: 'probe-start', label: 'load' });
    const load = await putLoad(sys, o.connections, o.seconds, o.keys);
    await prober.ask({ type: 'probe-stop' });
    const atEnd = await statuses();
    const clientCpuSeconds = clientCpu().reduce((a, b) => a + b, 0);
    clearInterval(sampler);
    rss.peak = peak;
    const probeLoad = await prober.ask<LatencyStats>({ type: 'latency', label: 'load' });

    // Every PUT acknowledged in this run is under the prefix: each open watcher owes that many events.
    const owed = load.ok + probeLoad.acked + (idleLatency?.acked ?? 0);
    const total = (ss: readonly ClientStatus[]) =>
      ss.reduce((n, s) => n + s.counts.reduce((a, b) => a + b, 0), 0);
    const sinceStart = total(atEnd) - total(atStart);
    const owedInLoad = w * (load.ok + probeLoad.acked);
    // Every watcher opened before this run's first write: once the writes have all landed, every open
    // watcher has the same count, that of the writes committed, at least the acknowledged ones.
    let drainSeconds: number | null = null;
    let finalStatus = atEnd;
    let committed = 0;
    if (w > 0) {
      const drainStart = performance.now();
      let lastTotal = -1;
      let stableSince = drainStart;
      for (;;) {
        const now = performance.now();
        const counts = openCounts(finalStatus);
        committed = Math.max(...finalStatus.flatMap((s) => s.counts));
        const probesIn = (await prober.ask<LatencyStats>({ type: 'latency', label: 'load' })).missing === 0;
        if (total(finalStatus) !== lastTotal) {
          lastTotal = total(finalStatus);
          stableSince = now;
        }
        const caughtUp = probesIn && counts.every((c) => c >= owed);
        if (caughtUp && drainSeconds === null) drainSeconds = (now - drainStart) / 1000;
        if (caughtUp && counts.every((c) => c === committed) && now - stableSince >= 1_000) break;
        if (now - stableSince > 5_000 || now - drainStart > 60_000) break;
        await sleep(250);
        finalStatus = await statuses();
      }
    }
    const counts = openCounts(finalStatus);
    const fullChecks = w >= 1 ? await prober.ask<FullCheck[]>({ type: 'check' }) : [];
    const byCount = new Map<number, number[]>();
    finalStatus
      .flatMap((s) => s.counts)
      .forEach((n, i) => {
        byCount.set(n, [...(byCount.get(n) ?? []), i]);
      });
    const countSpread =
      byCount.size <= 1
        ? null
        : [...byCount]
            .sort((a, b) => b[1].length - a[1].length)
            .map(
              ([n, ws], k) =>
                `${n} events: ${ws.length} watcher(s)${k > 0 ? ` (${ws.slice(0, 5).map((i) => `#${i} on node ${(i % sys.endpoints.length) + 1}`)})` : ''}`,
            )
            .join('; ');
    const ended: Record<string, number> = {};
    for (const s of finalStatus) for (const [k, v] of Object.entries(s.ended)) ended[k] = (ended[k] ?? 0) + v;
    const loadLatency = w >= 1 ? await prober.ask<LatencyStats>({ type: 'latency', label: 'load' }) : null;
    const acked = load.ok + probeLoad.acked;
    const result: RunResult = {
      system: sys.name,
      watchers: w,
      round,
      load,
      cpuUsPerPut: acked === 0 ? Number.NaN : (load.cpuSeconds * 1e6) / acked,
      clientCpuUsPerPut: acked === 0 ? Number.NaN : (clientCpuSeconds * 1e6) / acked,
      eventsPerSec: sinceStart / load.wallSeconds,
      mbPerSec:
        (atEnd.reduce((n, s) => n + s.bytes, 0) - atStart.reduce((n, s) => n + s.bytes, 0)) /
        2 ** 20 /
        load.wallSeconds,
      deliveredByEnd: owedInLoad === 0 ? Number.NaN : sinceStart / owedInLoad,
      drainSeconds,
      missingEvents: counts.reduce((n, c) => n + (committed - c), 0),
      watchersShort: counts.filter((c) => c < committed).length,
      lostEverywhere: w === 0 ? 0 : Math.max(0, owed - committed),
      countSpread,
      fullChecks,
      ended,
      endSamples: finalStatus.flatMap((s) => s.endSamples),
      notReady,
      idleLatency,
      loadLatency,
      probeFailures: [...(idleLatency?.failures ?? []), ...probeLoad.failures],
      leaderChanged: false,
      rss,
    };
    await Promise.all(clients.map((c) => c.stop()));
    await sleep(2_000);
    rss.after = sys.pids.map(rssMiB);
    return { ...result, leaderChanged: (await sys.terms()) !== termsBefore };
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
  }
}

/** How many watchers (the first) are parsed in full and checked event by event. */
const fullWatchers = 3;

const range = (from: number, to: number) =>
  Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/** The counts of the watchers still open, over all clients. */
const openCounts = (ss: readonly ClientStatus[]) => ss.flatMap((s) => s.openCounts);

const percentile = (xs: readonly number[], p: number) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

const median = (xs: readonly number[]) => percentile(xs.filter(Number.isFinite), 50);

function printRun(r: RunResult): void {
  const f = (n: number | undefined, d = 0) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(d));
  const lat = (l: LatencyStats | null) =>
    l === null ? '-' : `${f(percentile(l.latenciesMs, 50), 1)}/${f(percentile(l.latenciesMs, 99), 1)} ms`;
  const mib = (xs: readonly number[]) => xs.map((x) => x.toFixed(0)).join('/');
  log(
    `round ${r.round + 1} ${r.system.padEnd(6)} W=${String(r.watchers).padEnd(4)} ${f(r.load.opsPerSec).padStart(5)} PUT/s  CPU ${f(r.cpuUsPerPut)} µs/PUT  ${f(r.eventsPerSec)} events/s (${f(r.mbPerSec, 1)} MB/s, ${f(r.deliveredByEnd * 100, 1)}% by the end)  drain ${f(r.drainSeconds ?? Number.NaN, 1)} s  latency idle ${lat(r.idleLatency)} load ${lat(r.loadLatency)}  errors ${r.load.errors}  missing ${r.missingEvents}  ended ${JSON.stringify(r.ended)}${r.leaderChanged ? '  LEADER CHANGED' : ''}  RSS ${mib(r.rss.before)} → idle ${mib(r.rss.idle)} → peak ${mib(r.rss.peak)} → after ${mib(r.rss.after)} MiB`,
  );
  if (r.endSamples.length > 0) log(`  ends: ${r.endSamples.join(' | ')}`);
  if (r.probeFailures.length > 0) log(`  prober failures: ${r.probeFailures.join(' | ')}`);
  if (r.countSpread !== null) log(`  counts differ: ${r.countSpread}`);
  for (const fc of r.fullChecks)
    if (fc.duplicates > 0 || fc.missing > 0)
      log(
        `  watcher ${fc.index} (node ${fc.node + 1}): ${fc.duplicates} duplicate(s) ${fc.duplicateSamples.join(', ')}; ${fc.missing} missing ${fc.missingSamples.join(', ')}`,
      );
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '3' },
      watchers: { type: 'string', default: '0,1,100,1000' },
      connections: { type: 'string', default: '64' },
      rate: { type: 'string', default: '20' },
      'idle-seconds': { type: 'string', default: '5' },
      keys: { type: 'string', default: '10000' },
      out: { type: 'string', default: 'BENCHMARKS.md' },
    },
  });
  const o: Options = {
    seconds: Number(args.seconds),
    idleSeconds: Number(args['idle-seconds']),
    connections: Number(args.connections),
    keys: Number(args.keys),
    rate: Number(args.rate),
  };
  const rounds = Number(args.rounds);
  const levels = args.watchers.split(',').map(Number);
  const command = `npm run bench:watch -- ${process.argv.slice(2).join(' ')}`.trimEnd().replace(/ --$/, '');
  installSignalCleanup((signal) => log(`${signal}: stopping every process this benchmark started`));
  const began = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-watch-bench-'));
  const forgetDir = onExit(`the work directory ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const logLines: Record<string, string[]> = {};
  const results: RunResult[] = [];
  const runFailures: string[] = [];
  let leaderChangesRecorded = 0;
  let etcdVersion = 'etcd';
  const raftkv = await startRaftkv(join(dir, 'raftkv'), {
    shards: 3,
    portBase: 26_000,
    onOutput: (id, chunk) => {
      const lines = logLines[id] ?? [];
      logLines[id] = lines;
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      if (lines.length > 200) lines.splice(0, lines.length - 200);
    },
  });
  const killAll = (pids: readonly number[]) => () => {
    for (const pid of pids)
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
  };
  const forgetRaftkv = onExit('the raftkv nodes', killAll(raftkv.pids));
  try {
    const etcd = await startEtcd(join(dir, 'etcd'), 26_790);
    const forgetEtcd = onExit('the etcd members', killAll(etcd.pids));
    try {
      etcdVersion = etcd.version;
      const settledMs = await awaitSettled(raftkv.endpoints, 30_000);
      log(
        `raftkv at ${raftkv.endpoints.join(', ')} (leaders ${settledMs === null ? 'NOT settled' : `settled in ${settledMs} ms`}); ${etcd.version} at ${etcd.endpoints.join(', ')}`,
      );
      const systems: System[] = [
        {
          name: 'raftkv',
          endpoints: raftkv.endpoints,
          pids: raftkv.pids,
          terms: () => raftkvTerms(raftkv.endpoints),
        },
        { name: 'etcd', endpoints: etcd.endpoints, pids: etcd.pids, terms: () => etcdTerm(etcd.endpoints) },
      ];
      for (const sys of systems) {
        log(`warming ${sys.name} up: 10 s of PUT load, no watcher`);
        await putLoad(sys, o.connections, 10, o.keys);
      }
      const startedMs = Date.now();
      for (let round = 0; round < rounds; round++) {
        for (const sys of round % 2 === 0 ? systems : [...systems].reverse()) {
          for (const w of levels) {
            try {
              const r = await run(sys, w, round, o);
              results.push(r);
              printRun(r);
            } catch (err) {
              const what = `${sys.name} W=${w} round ${round + 1}: the run failed: ${(err as Error).message}`;
              log(what);
              runFailures.push(what);
            }
          }
        }
      }
      leaderChangesRecorded = await raftkvLeaderChangesSince(raftkv.endpoints, startedMs);
    } finally {
      await etcd.stop();
      forgetEtcd();
    }
  } finally {
    await raftkv.stop();
    forgetRaftkv();
    rmSync(dir, { recursive: true, force: true });
    forgetDir();
  }
  const minutes = (performance.now() - began) / 60_000;
  report(
    results,
    { ...o, rounds, levels, command, etcdVersion, minutes, leaderChangesRecorded, logLines, runFailures },
    resolve(repoRoot, args.out),
  );
}

interface ReportContext extends Options {
  readonly rounds: number;
  readonly levels: readonly number[];
  readonly command: string;
  readonly etcdVersion: string;
  readonly minutes: number;
  readonly leaderChangesRecorded: number;
  readonly logLines: Readonly<Record<string, string[]>>;
  readonly runFailures: readonly string[];
}

function report(results: readonly RunResult[], c: ReportContext, out: string): void {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const of = (sys: SystemName, w: number) => results.filter((r) => r.system === sys && r.watchers === w);
  const systemsNames: SystemName[] = ['raftkv', 'etcd'];

  const throughput = [
    "| system | watchers | PUT ops/s | PUT p50 ms | PUT p99 ms | server CPU µs/PUT | extra CPU µs/PUT vs 0 watchers | extra CPU µs per event | events/s delivered (all watchers) | MB/s delivered | delivered by the end of the load | drain s | watch clients' CPU µs/PUT |",
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const sys of systemsNames) {
    const cpu0 = median(of(sys, 0).map((r) => r.cpuUsPerPut));
    for (const w of c.levels) {
      const rs = of(sys, w);
      if (rs.length === 0) continue;
      const cpu = median(rs.map((r) => r.cpuUsPerPut));
      const extra = w === 0 ? Number.NaN : cpu - cpu0;
      const drains = rs.map((r) => r.drainSeconds);
      throughput.push(
        `| ${sys} | ${w} | ${f(median(rs.map((r) => r.load.opsPerSec)))} | ${f(median(rs.map((r) => r.load.p50Ms)), 1)} | ${f(median(rs.map((r) => r.load.p99Ms)), 1)} | ${f(cpu)} | ${w === 0 ? '-' : f(extra)} | ${w === 0 ? '-' : f(extra / w, 2)} | ${w === 0 ? '-' : f(median(rs.map((r) => r.eventsPerSec)))} | ${w === 0 ? '-' : f(median(rs.map((r) => r.mbPerSec)), 1)} | ${w === 0 ? '-' : `${f(median(rs.map((r) => r.deliveredByEnd * 100)), 1)}%`} | ${w === 0 ? '-' : drains.some((d) => d === null) ? `${drains.filter((d) => d === null).length} run(s) never caught up` : f(median(drains as number[]), 1)} | ${w === 0 ? '-' : f(median(rs.map((r) => r.clientCpuUsPerPut)))} |`,
      );
    }
  }

  const latency = [
    '| system | watchers | idle p50 ms | idle p99 ms | idle probes | under load p50 ms | under load p99 ms | under load max ms | under load probes | events before their ack | probes acked without event |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const sys of systemsNames) {
    for (const w of c.levels.filter((x) => x >= 1)) {
      const rs = of(sys, w);
      if (rs.length === 0) continue;
      const idle = rs.flatMap((r) => r.idleLatency?.latenciesMs ?? []);
      const load = rs.flatMap((r) => r.loadLatency?.latenciesMs ?? []);
      const missing = rs.reduce(
        (n, r) => n + (r.idleLatency?.missing ?? 0) + (r.loadLatency?.missing ?? 0),
        0,
      );
      latency.push(
        `| ${sys} | ${w} | ${f(percentile(idle, 50), 1)} | ${f(percentile(idle, 99), 1)} | ${idle.length} | ${f(percentile(load, 50), 1)} | ${f(percentile(load, 99), 1)} | ${f(percentile(load, 100), 1)} | ${load.length} | ${[...idle, ...load].filter((x) => x < 0).length} | ${missing} |`,
      );
    }
  }

  const maxW = Math.max(...c.levels);
  const memory = [
    '| system | round | process | no watchers MiB | ' +
      `${maxW} idle watchers MiB | difference MiB | peak under load MiB | after they closed MiB |`,
    '|---|---:|---|---:|---:|---:|---:|---:|',
  ];
  for (const sys of systemsNames) {
    for (const r of of(sys, maxW)) {
      r.rss.before.forEach((before, i) => {
        const name = sys === 'raftkv' ? `n${i + 1}` : `e${i + 1}`;
        memory.push(
          `| ${sys} | ${r.round + 1} | ${name} | ${f(before)} | ${f(r.rss.idle[i]!)} | ${f(r.rss.idle[i]! - before)} | ${f(r.rss.peak[i]!)} | ${f(r.rss.after[i]!)} |`,
        );
      });
    }
  }
  const rssTrend = systemsNames
    .map((sys) => {
      const rs = results.filter((r) => r.system === sys);
      const first = rs[0]?.rss.before ?? [];
      const lastAfter = rs.at(-1)?.rss.after ?? [];
      return `${sys}: ${first.map((x) => f(x)).join(' / ')} MiB at the first run's start, ${lastAfter.map((x) => f(x)).join(' / ')} MiB after the last run`;
    })
    .join('; ');

  const problems: string[] = [];
  for (const r of results) {
    const at = `${r.system} W=${r.watchers} round ${r.round + 1}`;
    if (r.load.errors > 0) problems.push(`${at}: ${r.load.errors} load PUTs failed`);
    if (r.probeFailures.length > 0)
      problems.push(`${at}: prober PUTs failed (${r.probeFailures.join('; ')})`);
    if (r.notReady > 0) problems.push(`${at}: ${r.notReady} watchers never started`);
    if (Object.keys(r.ended).length > 0)
      problems.push(
        `${at}: watchers ended by the server: ${JSON.stringify(r.ended)} (${r.endSamples.join(' | ')})`,
      );
    if (r.missingEvents > 0)
      problems.push(
        `${at}: ${r.watchersShort} open watcher(s) short of ${r.missingEvents} events in all (against the watcher with most) when the drain ended`,
      );
    if (r.countSpread !== null) problems.push(`${at}: the watchers' counts differ: ${r.countSpread}`);
    for (const fc of r.fullChecks) {
      if (fc.duplicates > 0)
        problems.push(
          `${at}: watcher ${fc.index} (node ${fc.node + 1}) got ${fc.duplicates} event(s) twice: ${fc.duplicateSamples.join(', ')}`,
        );
      if (fc.missing > 0)
        problems.push(
          `${at}: watcher ${fc.index} (node ${fc.node + 1})${fc.ended === null ? '' : ` (ended: ${fc.ended})`} lacks ${fc.missing} event(s) another watcher got: ${fc.missingSamples.join(', ')}`,
        );
    }
    if (r.lostEverywhere > 0)
      problems.push(
        `${at}: ${r.lostEverywhere} acknowledged PUT(s) more than the events of the watcher with most`,
      );
    if (r.watchers > 0 && r.drainSeconds === null)
      problems.push(`${at}: the watchers did not catch up within the drain`);
    if (r.leaderChanged) problems.push(`${at}: a leader changed (terms before and after differ)`);
    const lm = (r.idleLatency?.missing ?? 0) + (r.loadLatency?.missing ?? 0);
    if (lm > 0) problems.push(`${at}: ${lm} acknowledged probe PUT(s) never reached watcher 0`);
  }
  problems.push(...c.runFailures);
  if (c.leaderChangesRecorded > 0)
    problems.push(
      `raftkv nodes recorded ${c.leaderChangesRecorded} leader change(s) during the measured runs`,
    );
  const problemNote =
    problems.length === 0
      ? 'No PUT failed (load or prober), every watcher started, none was ended by the server, after each run every watcher had the same number of events and at least one per acknowledged PUT, watchers 0-2 had no duplicate and the same events, watcher 0 had the event of every acknowledged probe PUT, and no leader changed (terms checked before and after every run; raftkv nodes recorded no leader change).'
      : `Problems seen:\n\n${problems.map((p) => `- ${p}`).join('\n')}`;
  const warnLines = Object.entries(c.logLines).flatMap(([id, ls]) => ls.map((l) => `${id}: ${l}`));

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const md = [
    '## Watchers: throughput, CPU and latency, raftkv and etcd (`npm run bench:watch`)',
    '',
    'A fresh local raftkv cluster (3 nodes, 3 shards, 3 replicas) and a fresh local three-member etcd on the same',
    `machine and cores. For each system and each number of watchers, the same PUT load from autocannon (the load`,
    `generator for both systems: ${c.connections} connections, closed loop, spread over every node; raftkv over its HTTP API, etcd over its`,
    `v3 HTTP/JSON gateway; 100-byte values over ${c.keys} keys) runs for ${c.seconds} s while the watchers, spread round-robin`,
    'over the nodes/members, all watch the prefix the load writes under. The watchers are raw HTTP streams (raftkv:',
    '`GET /v1/watch?prefix=bench/`, Server-Sent Events; etcd: `POST /v3/watch` on the gateway, one JSON object per',
    'line), held by two child processes of the benchmark on the same cores: one holds the prober and watchers 0-2',
    '(one per node/member, parsed in full), the other the rest, which only count the events in the raw bytes.',
    'Server CPU is the user + system CPU of the',
    'system\'s server processes (from /proc/<pid>/stat) during the load, per acknowledged PUT; "extra" is the',
    'difference from the run without watchers, and per event that difference over the number of watchers.',
    '"Events/s" counts what all watchers received while the load ran; "delivered by the end" compares that with',
    'what they were owed (watchers × acknowledged PUTs); "drain" is how long after the load every open watcher had an',
    'event for every acknowledged PUT (and watcher 0 that of every acknowledged probe PUT). As every watcher opens',
    'before the run writes, all must end with the same count, at least the acknowledged PUTs: that is the check',
    'for missing events (the bulk watchers are counted; watchers 0-2 are also checked event by event, by shard and',
    'log index or by etcd revision, for duplicates and for events one got and another did not; watcher 0 is matched',
    'on the probes).',
    `Latency: a prober writes unique keys under the prefix, sequentially at ${c.rate}/s, round-robin over the nodes, and`,
    'records each acknowledgement; watcher 0 (on the first node/member) records the arrival of each event; the table',
    'gives event arrival minus acknowledgement, pooled over all rounds, idle (the watchers open, no load,',
    `${c.idleSeconds} s) and under the load. The systems run in turn, interleaved over ${c.rounds} rounds (each system's runs in`,
    'order of watchers, after a 10 s warm-up of each); throughput and CPU are medians over the rounds.',
    '',
    `- date: ${new Date().toISOString()}`,
    `- command: \`${c.command}\` (${c.minutes.toFixed(1)} minutes)`,
    `- machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${process.platform}`,
    `- versions: raftkv ${pkg.version}, ${c.etcdVersion}, Node.js ${process.version}, autocannon 8`,
    '',
    ...throughput,
    '',
    "Latency from a PUT's acknowledgement to its event at watcher 0 (negative: the event came first):",
    '',
    ...latency,
    '',
    `Memory (VmRSS from /proc/<pid>/status) of each server process in the runs with ${maxW} watchers: before they opened,`,
    'after they had been open 3 s with no load, its peak while the load ran, and 2 s after they closed. The load',
    "itself grows raftkv's change history (each replica keeps its recent changes for resumes, bounded by count, bytes",
    `and age), so the peak is not the watchers' alone. ${rssTrend}.`,
    '',
    ...memory,
    '',
    problemNote,
    '',
    ...(warnLines.length > 0
      ? [
          `raftkv nodes' log lines at warn or above (last ${Math.min(warnLines.length, 10)}):`,
          '',
          '```',
          ...warnLines.slice(-10),
          '```',
          '',
        ]
      : ['The raftkv nodes logged nothing at warn or above.', '']),
  ].join('\n');
  writeSection(out, 'bench:watch', md);
  process.stdout.write(`\n${md}\nwrote ${out}\n`);
}

if (process.argv[2] === '--watch-client') await watchClient(JSON.parse(process.argv[3]!) as ClientSpec);
else await main();
