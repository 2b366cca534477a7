/**
 * One fault-injection round, as the runner (`npm run jepsen`) and the CI test run it:
 *
 *   1. clean up leftovers of crashed runs; take a slot; build dist/ if stale and copy it (the nodes
 *      run the copy); build the namespaces (or use loopback); start the nodes and wait until every
 *      shard has a leader;
 *   2. the nemesis phase: clients record a history while the nemesis injects faults (and, with
 *      `membership`, moves replicas; stopping it puts every shard back to its original voters
 *      while the clients still run);
 *   3. stop the clients, heal everything (restart, resume, reconnect), wait until every shard has
 *      a leader again, then read every key linearizably (recorded in the history too, by the
 *      "final" client);
 *   4. stop the cluster and remove the network; check the history per key, look for acknowledged
 *      writes missing from the final reads, measure each fault's recovery; write history.jsonl,
 *      report.txt, report.json, timeline.html and the node logs into `outDir`.
 *
 * With `leases` (the default), lease holders run beside it all (lease-round.ts): before the phase a
 * live one and a paused one each put keys under a lease of their own; during it the paused one is
 * SIGSTOPped for longer than its TTL and its keys are polled until gone; after the heal every
 * lease key is read through every node; lease-checker.ts judges it all (leases.json in `outDir`).
 *
 * Everything started is stopped by PID and every namespace removed in a finally, and also on
 * process exit (harness/cleanup.ts).
 */

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type NodeSpec, onExit, repoRoot, sleep, TestCluster, type Tuning } from '../../harness/index.js';
import { clusterDefaults } from '../../src/config/cluster-file.js';
import { type BrokenVariant, writeBrokenCli } from './broken-node.js';
import { privateBuild } from './build.js';
import { checkHistory } from './checker.js';
import type { NodeChange } from './grow-shrink.js';
import { type Operation, toJsonLine } from './history.js';
import { checkLeases, type Disruption, type LeaseVerdict } from './lease-checker.js';
import { LeaseRound } from './lease-round.js';
import type { MembershipRecord } from './membership-plan.js';
import { type Fault, Nemesis, type NemesisKind } from './nemesis.js';
import { cleanupLeftovers, NetLab, netnsSupport, Slot } from './netns.js';
import { countOperations, findLostWrites, formatReport, type Report, recoveryOf } from './report.js';
import { Rng } from './rng.js';
import { renderTimeline } from './timeline.js';
import { checkWatches } from './watch-checker.js';
import { Watchers } from './watchers.js';
import { Workload } from './workload.js';

export interface RoundOptions {
  readonly nemeses: readonly NemesisKind[];
  /** Restricts the nemeses to these variants (nemesis.ts); all when absent. */
  readonly variants?: readonly string[];
  /** Length of the nemesis phase. */
  readonly timeMs: number;
  readonly clients: number;
  readonly nodes: number;
  /** Nodes beyond `nodes` that the grow-shrink nemesis may add (0 without it). */
  readonly spares?: number;
  readonly shards: number;
  readonly keys: number;
  readonly seed: number;
  /** `auto`: namespaces when partitions are asked for, loopback otherwise. */
  readonly network: 'netns' | 'loopback' | 'auto';
  readonly holdMs: readonly [number, number];
  readonly quietMs: readonly [number, number];
  /** The cluster file's requestTimeoutMs: when a node answers 504/503 to a waiting request. */
  readonly requestTimeoutMs: number;
  /** Other tuning fields of the cluster file (tickMs, electionTicks, snapshotEntries...). */
  readonly tuning?: Tuning;
  readonly clientTimeoutMs: number;
  /** Results: history, report, timeline, node logs (and, while running, the nodes' data). */
  readonly outDir: string;
  /** Keep the nodes' data directories even when the round is valid. */
  readonly keepData?: boolean;
  readonly progressEveryMs: number;
  readonly log: (line: string) => void;
  /** `stale`: the workload's reads ask for ?consistency=stale (to show the checker catches it). */
  readonly reads?: 'linearizable' | 'stale';
  /** How long clients keep going after the nemesis healed its last fault (default 3 s). */
  readonly settleMs?: number;
  /** The checker's search budget per key. */
  readonly statesMax?: number;
  /** Run deliberately broken nodes (broken-node.ts), to show the suite catches them. */
  readonly broken?: BrokenVariant;
  /** Watchers of every key through the client library (watchers.ts); 3 by default. */
  readonly watchers?: number;
  /** Lease holders beside the workload (lease-round.ts); on by default. */
  readonly leases?: boolean;
}

/** The lease part's timing for a round (lease-round.ts, lease-checker.ts). */
export function leaseTiming(
  o: Pick<RoundOptions, 'holdMs' | 'quietMs' | 'requestTimeoutMs' | 'tuning' | 'seed'>,
) {
  const tickMs = o.tuning?.tickMs ?? clusterDefaults.tickMs;
  const electionTicks = o.tuning?.electionTicks ?? clusterDefaults.electionTicks;
  return {
    /** Longer than any fault the nemesis holds plus the recovery after it, and a renewal period. */
    liveTtlMs: Math.max(15_000, 2 * o.holdMs[1] + 10_000),
    pausedTtlMs: 3_000,
    /** Each election waits less than 2 × electionTicks ticks. */
    electionMaxMs: 2 * electionTicks * tickMs,
    /** A revoke lost with a leader change is proposed again after requestTimeoutMs; plus ticks, commit, catching up, the poll. */
    slackMs: o.requestTimeoutMs + 2_000,
    pauseMarginMs: 1_000,
    /**
     * When the paused holder is stopped: after a renewal, before the nemesis's first fault (it
     * waits quietMs first), so a fault cannot expire the lease before the pause does; the faults
     * that follow overlap its expiry.
     */
    pauseAt: new Rng(o.seed, 4).int(1_000, Math.max(1_000, o.quietMs[0] - 250)),
  };
}

export interface RoundResult {
  readonly report: Report;
  readonly text: string;
  readonly history: readonly Operation[];
  readonly outDir: string;
}

/** The nodes' log lines (and the harness's marks) between two wall-clock times, merged by time. */
export function logExcerpt(
  logDir: string,
  ids: readonly string[],
  fromEpoch: number,
  toEpoch: number,
  linesMax: number,
): string[] {
  const out: { time: number; text: string }[] = [];
  for (const id of ids) {
    let text = '';
    try {
      text = readFileSync(join(logDir, `${id}.log`), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      const time = typeof e.time === 'number' ? e.time : Number.NaN;
      if (!(time >= fromEpoch && time <= toEpoch)) continue;
      if (typeof e.harness === 'string') {
        // A node's own start or exit names it; marks are written to every node's log: keep one copy.
        if (typeof e.node === 'string')
          out.push({ time, text: `harness: ${e.node} ${e.harness} pid ${String(e.pid)}` });
        else if (id === ids[0])
          out.push({ time, text: `harness: ${e.harness} ${String(e.description ?? '')}`.trim() });
        continue;
      }
      const { time: _t, level: _l, node: _n, msg, ...rest } = e;
      out.push({ time, text: `${id} ${String(msg ?? '')} ${JSON.stringify(rest)}` });
    }
  }
  out.sort((a, b) => a.time - b.time);
  const shown = out.length > linesMax ? [...out.slice(0, linesMax / 2), ...out.slice(-linesMax / 2)] : out;
  return shown.map((l) => `${new Date(l.time).toISOString().slice(11, 23)} ${l.text}`);
}

/**
 * Node processes that exited on their own with an error (code > 0: an uncaught exception, a fatal
 * error; the harness's kills end them by a signal, -1), each with the output it printed last.
 */
export function nodeCrashes(logDir: string, ids: readonly string[], t0Epoch: number): string[] {
  const out: string[] = [];
  for (const id of ids) {
    let lines: string[];
    try {
      lines = readFileSync(join(logDir, `${id}.log`), 'utf8').split('\n');
    } catch {
      continue;
    }
    const raw: string[] = [];
    for (const line of lines) {
      let e: Record<string, unknown> | null = null;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        if (line.trim() !== '') raw.push(line.trim());
        continue;
      }
      if (e.harness === 'exited' && e.node === id && typeof e.code === 'number' && e.code > 0) {
        const at = typeof e.time === 'number' ? ` at ${((e.time - t0Epoch) / 1000).toFixed(2)} s` : '';
        out.push(
          `node ${id} (pid ${String(e.pid)}) exited on its own with code ${e.code}${at}: ${raw.slice(-12).join(' | ') || 'no output'}`,
        );
      }
      if (e.harness === undefined) raw.length = 0;
    }
  }
  return out;
}

/** `count` keys (`<prefix><n>`), spread evenly over the shards. */
export function chooseKeys(
  count: number,
  shardOf: (key: string) => number,
  shards: number,
  prefix = 'k',
): string[] {
  const per = Math.ceil(count / shards);
  const taken = new Map<number, number>();
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) {
    const k = `${prefix}${i}`;
    const s = shardOf(k);
    if ((taken.get(s) ?? 0) >= per) continue;
    taken.set(s, (taken.get(s) ?? 0) + 1);
    keys.push(k);
  }
  return keys;
}

/** The nodes of a round in namespaces: each on its namespace's address, API port 7001, peer port 7101. */
function specsIn(net: NetLab): NodeSpec[] {
  return net.nodes.map((n) => ({
    id: n.id,
    api: `http://${n.addr}:7001`,
    peer: `http://${n.addr}:7101`,
    netns: n.ns,
    bind: n.addr,
  }));
}

export async function runRound(o: RoundOptions): Promise<RoundResult> {
  const log = o.log;
  const network = o.network === 'auto' ? (o.nemeses.includes('partition') ? 'netns' : 'loopback') : o.network;
  if (network === 'netns') {
    const s = netnsSupport();
    if (!s.ok) throw new Error(`network namespaces are not available: ${s.reason}`);
  }
  if (o.nemeses.includes('partition') && network !== 'netns')
    throw new Error('the partition nemesis needs --net netns');
  for (const line of cleanupLeftovers()) log(`leftover from a crashed run: ${line}`);

  const slot = Slot.acquire();
  const buildCopy = join(repoRoot, 'jepsen-results', `.dist-${slot.n}`);
  const forgetBuildCopy = onExit('private build', () => rmSync(buildCopy, { recursive: true, force: true }));
  let net: NetLab | null = null;
  let cluster: TestCluster | null = null;
  let workload: Workload | null = null;
  let watchers: Watchers | null = null;
  let leases: LeaseRound | null = null;
  let leaseNodes: string[] = [];
  /** The phase's faults and changes so far (for the lease bounds); set once the nemesis exists. */
  let disruptions: () => Disruption[] = () => [];
  const runDir = join(o.outDir, 'run');
  const problems: string[] = [];
  let faults: Fault[] = [];
  let membership: MembershipRecord | null = null;
  let nodeChanges: NodeChange[] | null = null;
  let keys: string[] = [];
  /** Every node that may have run: the cluster file's and the spares (their logs). */
  let poolIds: string[] = [];
  const startedAt = new Date();
  let t0Epoch = 0;
  try {
    const built = await privateBuild(buildCopy);
    const cli = o.broken === undefined ? built : writeBrokenCli(buildCopy, o.broken);
    const spares = o.spares ?? 0;
    const ids = Array.from({ length: o.nodes + spares }, (_, i) => `n${i + 1}`);
    poolIds = ids;
    if (network === 'netns') {
      net = NetLab.create(slot, ids);
      log(
        `network: slot ${slot.n}, bridge address ${net.hostAddr}, ` +
          net.nodes.map((n) => `${n.id} ${n.addr} in ${n.ns}`).join(', '),
      );
    }
    cluster = await TestCluster.create({
      name: `jepsen-${slot.n}`,
      dir: runDir,
      logDir: join(o.outDir, 'logs'),
      nodes: o.nodes,
      ...(net === null ? {} : { specs: specsIn(net).slice(0, o.nodes) }),
      shards: o.shards,
      replicas: Math.min(3, o.nodes),
      tuning: { ...o.tuning, requestTimeoutMs: o.requestTimeoutMs },
      cli,
      onSpawn: (_id, pid) => slot.recordProcess(pid),
    });
    const cl = cluster;
    const lt = leaseTiming(o);
    if (o.leases !== false) {
      leases = new LeaseRound({
        liveTtlMs: lt.liveTtlMs,
        pausedTtlMs: lt.pausedTtlMs,
        liveKeys: chooseKeys(o.shards, (k) => cl.ring.shardOf(k), o.shards, 'lease/live/'),
        pausedKeys: chooseKeys(o.shards, (k) => cl.ring.shardOf(k), o.shards, 'lease/paused/'),
        apis: () => cl.nodes.map((n) => n.api),
        clientFile: join(buildCopy, 'client', 'index.js'),
        electionMaxMs: lt.electionMaxMs,
        slackMs: lt.slackMs,
        pauseMarginMs: lt.pauseMarginMs,
        holdMaxMs: o.holdMs[1],
        watchers: 2,
        clientTimeoutMs: o.clientTimeoutMs,
        rng: new Rng(o.seed, 5),
        onSpawn: (pid) => slot.recordProcess(pid),
        log,
        mark: (event, detail) => cl.mark(event, detail),
      });
    }
    let leaders: string[];
    // The lease holders start (and ask for their lease until granted) while the nodes start.
    const holdersReady = leases?.startHolders() ?? Promise.resolve([]);
    try {
      await cl.start();
      leaders = await cl.waitLeaders({ timeoutMs: 30_000 });
    } catch (err) {
      throw new Error(`the cluster did not come up: ${(err as Error).message}; node logs in ${cl.logs.dir}`);
    }
    log(
      `cluster up: ${cl.ids.map((id) => `${id} pid ${cl.pid(id)}`).join(', ')}; leaders ${leaders.join(', ')}`,
    );
    keys = chooseKeys(o.keys, (k) => cl.ring.shardOf(k), o.shards);
    leases?.startWatchers();
    problems.push(...(await holdersReady));

    const t0 = performance.now();
    t0Epoch = Date.now();
    const now = () => performance.now() - t0;
    workload = new Workload({
      keys,
      clients: o.clients,
      // The members of the moment: grow-shrink adds and retires nodes.
      endpoints: () => cl.nodes,
      seed: o.seed,
      timeoutMs: o.clientTimeoutMs,
      t0,
      reads: o.reads ?? 'linearizable',
    });
    const wl = workload;
    const nemesis = new Nemesis(cl, net, {
      kinds: o.nemeses,
      variants: o.variants ?? [],
      holdMs: o.holdMs,
      quietMs: o.quietMs,
      rng: new Rng(o.seed, 1),
      membershipRng: new Rng(o.seed, 3),
      spares:
        net === null
          ? ids.slice(o.nodes).map((id) => ({ id }))
          : specsIn(net)
              .slice(o.nodes)
              .map((spec) => ({ id: spec.id, spec })),
      now,
      log: (line) => log(`[${(now() / 1000).toFixed(1).padStart(6)}s] ${line}`),
    });
    let healStart: number | null = null;
    let healEnd: number | null = null;
    disruptions = () => {
      const t = now();
      return [
        ...nemesis.faults.map((f) => ({
          start: f.start,
          end: f.healed ?? t,
          what: `fault #${f.id} ${f.description}`,
        })),
        ...(nemesis.membership?.moves ?? []).map((m) => ({
          start: m.start,
          end: m.back ?? t,
          what: `move M${m.id} shard ${m.shard} ${m.from} -> ${m.to}`,
        })),
        ...(nemesis.membership?.changes ?? [])
          .filter((c) => c.move === null)
          .map((c) => ({
            start: c.start,
            end: c.end,
            what: `${c.phase} #${c.id} shard ${c.shard} ${c.type} ${c.node}`,
          })),
        ...(nemesis.growShrink?.changes ?? []).map((c) => ({
          start: c.start,
          end: c.end ?? t,
          what: `node change N${c.id} ${c.variant} ${c.node}`,
        })),
        ...(healStart === null
          ? []
          : [{ start: healStart, end: healEnd ?? t, what: 'the heal after the phase' }]),
      ];
    };
    cl.mark('nemesis phase begins (history time 0)', { t0Epoch });
    wl.start();
    watchers = new Watchers(o.watchers ?? 3, () => cl.nodes.map((n) => n.api), 'k', now);
    leases?.beginPhase({
      t0,
      t0Epoch,
      now,
      pauseAt: lt.pauseAt,
      endpoints: () => {
        const up = cl.running();
        const eps = cl.nodes.filter((n) => up.includes(n.id));
        return eps.length > 0 ? eps : cl.nodes;
      },
      disruptions: () => disruptions(),
    });
    nemesis.start();
    const progress = setInterval(() => {
      const c = wl.counts;
      const f = nemesis.active;
      const m = nemesis.membership?.active ?? null;
      log(
        `[${(now() / 1000).toFixed(1).padStart(6)}s] ops ${c.ok + c.fail + c.info}: ok ${c.ok}, fail ${c.fail}, ` +
          `info ${c.info}${f === null ? '' : ` | in force: ${f.description}`}` +
          `${m === null ? '' : ` | moving: M${m.id} shard ${m.shard} ${m.from} -> ${m.to}`}`,
      );
    }, o.progressEveryMs);
    await sleep(o.timeMs);
    healStart = now();
    await nemesis.stop();
    // Clients go on for a moment after the last heal, so its recovery shows in the history.
    await sleep(o.settleMs ?? 3_000);
    clearInterval(progress);
    await wl.stop();
    faults = nemesis.faults;
    membership = nemesis.membership?.record() ?? null;
    nodeChanges = nemesis.growShrink?.changes ?? null;
    problems.push(...nemesis.errors.map((e) => `nemesis: ${e}`));
    cl.mark('nemesis phase over; healing');

    // Heal everything, whatever the nemesis left.
    net?.heal();
    for (const id of cl.ids) {
      if (cl.isPaused(id)) cl.resume(id);
      if (!cl.isRunning(id)) {
        try {
          await cl.start(id);
        } catch (err) {
          problems.push(`restarting ${id} after the nemesis phase: ${(err as Error).message}`);
        }
      }
    }
    log(`[${(now() / 1000).toFixed(1).padStart(6)}s] healed; waiting for every shard to have a leader`);
    try {
      await cl.waitLeaders({ timeoutMs: 30_000 });
    } catch (err) {
      problems.push(`after the heal: ${(err as Error).message}`);
    }
    healEnd = now();
    const finalClient = o.clients;
    const finalRng = new Rng(o.seed, 2);
    for (const key of keys) {
      const deadline = Date.now() + 30_000;
      let done = false;
      while (!done && Date.now() < deadline) {
        const r = await wl.invoke(finalClient, key, { f: 'read' }, finalRng.pick(cl.nodes));
        done = r.outcome === 'ok';
        if (!done) await sleep(200);
      }
      if (!done) problems.push(`the final read of key ${key} did not succeed within 30 s of the heal`);
    }
    log(`[${(now() / 1000).toFixed(1).padStart(6)}s] final reads done`);
    if (leases !== null) {
      leaseNodes = cl.nodes.map((n) => n.id);
      problems.push(...(await leases.finish(cl.nodes)));
      log(`[${(now() / 1000).toFixed(1).padStart(6)}s] lease keys read through every node; holders stopped`);
    }
    // The watchers get a moment to receive the last changes before they stop.
    await sleep(1_500);
  } finally {
    await watchers?.stop();
    await leases?.close();
    await workload?.close();
    await cluster?.stop();
    net?.destroy();
    rmSync(buildCopy, { recursive: true, force: true });
    forgetBuildCopy();
    slot.release();
  }

  const history = workload!.history;
  const shardOf = (k: string) => cluster!.ring.shardOf(k);
  problems.push(...nodeCrashes(join(o.outDir, 'logs'), poolIds, t0Epoch));
  log(`checking ${history.length} operations over ${keys.length} keys`);
  const checkStart = performance.now();
  const verdicts = checkHistory(history, o.statesMax === undefined ? {} : { statesMax: o.statesMax }).map(
    (v) => ({ ...v, shard: shardOf(v.key) }),
  );
  const checkMs = performance.now() - checkStart;
  const lost = findLostWrites(history, o.clients);
  const w = watchers!;
  const watch = checkWatches(history, w.records, w.compactions, o.watchers ?? 3, shardOf);
  const acked = history.some((op) => op.outcome === 'ok' && op.output?.kind === 'written');
  let leaseVerdict: LeaseVerdict | undefined;
  if (leases !== null) {
    const record = leases.record({ nodes: leaseNodes, disruptions: disruptions() });
    writeFileSync(join(o.outDir, 'leases.json'), `${JSON.stringify(record, null, 2)}\n`);
    leaseVerdict = checkLeases(record, shardOf);
  }
  const watchProblems = [
    ...w.errors,
    ...(acked && watch.events === 0 ? ['the watchers saw no event although writes were acknowledged'] : []),
  ];
  writeFileSync(
    join(o.outDir, 'watch.jsonl'),
    [...w.records, ...w.compactions.map((c) => ({ compaction: c }))]
      .map((r) => `${JSON.stringify(r)}\n`)
      .join(''),
  );
  // What the nodes logged around each violation (wall clock = t0Epoch + history time).
  const nodeLogs: Record<string, string[]> = {};
  for (const v of verdicts) {
    if (v.stuck === undefined) continue;
    const from = t0Epoch + v.stuck.call - 3_000;
    const to = t0Epoch + (Number.isFinite(v.stuck.ret) ? v.stuck.ret : v.stuck.call) + 1_000;
    nodeLogs[v.key] = logExcerpt(join(o.outDir, 'logs'), poolIds, from, to, 60);
  }
  const report: Report = {
    meta: {
      seed: o.seed,
      startedAt: startedAt.toISOString(),
      t0Epoch,
      timeMs: o.timeMs,
      nodes: o.nodes,
      shards: o.shards,
      clients: o.clients,
      keys,
      nemeses: o.nemeses,
      network,
      requestTimeoutMs: o.requestTimeoutMs,
      clientTimeoutMs: o.clientTimeoutMs,
      tuning: o.tuning ?? {},
      reads: o.reads ?? 'linearizable',
    },
    counts: countOperations(history),
    verdicts,
    lost,
    nodeLogs,
    faults: faults.map((f) => ({ ...f, ...recoveryOf(f, history, shardOf, o.shards) })),
    membership,
    nodeChanges,
    problems: [...problems, ...watchProblems],
    watch,
    ...(leaseVerdict === undefined ? {} : { leases: leaseVerdict }),
    checkMs,
    valid:
      verdicts.every((v) => v.ok && !v.unknown) &&
      lost.length === 0 &&
      problems.length === 0 &&
      watchProblems.length === 0 &&
      watch.problems.length === 0 &&
      (leaseVerdict?.problems.length ?? 0) === 0,
  };
  const text = formatReport(report);
  const byInvocation = [...history].sort((a, b) => a.id - b.id);
  writeFileSync(join(o.outDir, 'history.jsonl'), byInvocation.map((op) => `${toJsonLine(op)}\n`).join(''));
  writeFileSync(join(o.outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(o.outDir, 'report.txt'), text);
  writeFileSync(
    join(o.outDir, 'timeline.html'),
    renderTimeline({
      title: `raftkv round seed ${o.seed} (${o.nemeses.join(', ')}): ${report.valid ? 'valid' : 'INVALID'}`,
      summary: text,
      history,
      faults,
      membership,
      clientNames: new Map([[o.clients, 'final']]),
    }),
  );
  if (report.valid && o.keepData !== true) rmSync(join(runDir, 'data'), { recursive: true, force: true });
  return { report, text, history, outDir: o.outDir };
}
