/**
 * The leases of a fault round. Before the nemesis phase, two lease holders (lease-holder.ts, each
 * its own process) take a lease and put keys under it (`lease/live/…`, `lease/paused/…`, spread
 * over the shards; the workload's keys are `k…`), and watchers follow `lease/`. During the phase,
 * at `pauseAt`, the paused holder is SIGSTOPped (its keepalives stop with it) and its keys are
 * polled with linearizable GETs through running nodes until every one answers 404; it stays
 * stopped for at least ttl + election timeout + margin, and while its keys are there, until the
 * bound by which they must be gone (lease-checker.ts `expiryBound`, from the disruptions so far),
 * then gets SIGCONT and is awaited to report its lease lost. After the heal, every lease key is
 * read through every node, and the holders are stopped. lease-checker.ts judges the record.
 *
 * Every holder is signalled by its PID only, recorded in the round's slot (cleanupLeftovers) and
 * SIGKILLed on exit if it still runs.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { onExit, repoRoot, sleep } from '../../harness/index.js';
import type { Operation } from './history.js';
import type { Disruption, HolderRecord, LeaseRecord } from './lease-checker.js';
import { expiryBound } from './lease-checker.js';
import type { HolderEvent } from './lease-holder.js';
import { Pacer } from './pacer.js';
import type { Rng } from './rng.js';
import { Watchers } from './watchers.js';
import { type Endpoint, Workload } from './workload.js';

export interface LeaseRoundOptions {
  readonly liveTtlMs: number;
  readonly pausedTtlMs: number;
  readonly liveKeys: readonly string[];
  readonly pausedKeys: readonly string[];
  /** The cluster's API URLs, for the holders and the watchers. */
  readonly apis: () => readonly string[];
  /** The client library the holders load (the round's private build's client/index.js). */
  readonly clientFile: string;
  readonly electionMaxMs: number;
  readonly slackMs: number;
  readonly pauseMarginMs: number;
  readonly holdMaxMs: number;
  readonly watchers: number;
  readonly clientTimeoutMs: number;
  readonly rng: Rng;
  readonly onSpawn: (pid: number) => void;
  readonly log: (line: string) => void;
  /** Marks every node's log (the paused holder's SIGSTOP and SIGCONT), as the nemesis marks faults. */
  readonly mark?: (event: string, detail: Record<string, unknown>) => void;
}

/** How long a holder may take to start, be granted its lease and have its puts acknowledged. */
const readyTimeoutMs = 45_000;
/** The holders' client: one attempt, and one operation over its retries. */
const holderAttemptMs = 2_000;
const holderOperationMs = 10_000;
/** Between two rounds of polls of the paused holder's keys. */
const pollEveryMs = 200;
/** The paused holder is given back at the latest this long after it was stopped, whatever the bound. */
const pauseCapMs = 180_000;

const holderScript = join(repoRoot, 'test', 'lin', 'lease-holder.ts');

/** One holder process: its events (times in epoch ms until `record`), signalled by PID. */
class Holder {
  readonly rec: HolderRecord;
  readonly #child: ChildProcess;
  readonly #forget: () => void;
  readonly #waiters = new Set<() => void>();
  #stderr = '';
  #exited = false;
  #stopping = false;
  #paused = false;

  constructor(
    name: string,
    role: 'live' | 'paused',
    ttlMs: number,
    keys: readonly string[],
    o: LeaseRoundOptions,
  ) {
    this.#child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        holderScript,
        '--name',
        name,
        '--endpoints',
        o.apis().join(','),
        '--ttl-ms',
        String(ttlMs),
        '--keys',
        keys.join(','),
        '--client',
        pathToFileURL(o.clientFile).href,
        '--attempt-timeout-ms',
        String(holderAttemptMs),
        '--operation-timeout-ms',
        String(holderOperationMs),
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const pid = this.#child.pid ?? null;
    if (pid !== null) o.onSpawn(pid);
    this.#forget = onExit(`lease holder ${name}`, () => this.#killNow());
    this.rec = {
      name,
      role,
      ttlMs,
      keys,
      pid,
      lease: null,
      granted: null,
      puts: [],
      ready: null,
      renewals: [],
      lost: null,
      pausedAt: null,
      resumedAt: null,
      errors: [],
    };
    createInterface({ input: this.#child.stdout! }).on('line', (line) => this.#heard(line));
    this.#child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-2_000);
    });
    this.#child.on('error', (err) => {
      this.rec.errors.push(`could not run: ${err.message}`);
      this.#exited = true;
      this.#wake();
    });
    this.#child.on('exit', (code, signal) => {
      this.#exited = true;
      this.#forget();
      if (!this.#stopping)
        this.rec.errors.push(
          `exited (code ${code}, signal ${signal}) before it was stopped${this.#stderr === '' ? '' : `: ${this.#stderr.trim()}`}`,
        );
      this.#wake();
    });
  }

  #heard(line: string): void {
    let e: HolderEvent;
    try {
      e = JSON.parse(line) as HolderEvent;
    } catch {
      this.rec.errors.push(`printed something else: ${line.slice(0, 200)}`);
      return;
    }
    const r = this.rec;
    switch (e.event) {
      case 'granted':
        r.lease = e.lease;
        r.granted = { call: e.call, ret: e.ret };
        break;
      case 'put':
        r.puts.push({ key: e.key, value: e.value, version: e.version, call: e.call, ret: e.ret });
        break;
      case 'ready':
        r.ready = e.t;
        break;
      case 'keepalive':
        r.renewals.push({
          sentAt: e.sentAt,
          at: e.t,
          ok: e.ok,
          ...(e.code === undefined ? {} : { code: e.code }),
          ...(e.message === undefined ? {} : { message: e.message }),
        });
        break;
      case 'lost':
        r.lost = { at: e.t, code: e.code, message: e.message };
        break;
      case 'error':
        r.errors.push(`${e.stage}: ${e.message}`);
        break;
      case 'closed':
        break;
    }
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters) w();
  }

  /** Resolves true once `cond` holds, false once the holder exited or `timeoutMs` passed. */
  until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    if (this.#exited) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(v);
      };
      const check = () => {
        if (cond()) done(true);
        else if (this.#exited) done(false);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#waiters.add(check);
    });
  }

  get running(): boolean {
    return !this.#exited;
  }

  pause(): void {
    this.#signal('SIGSTOP');
    this.#paused = true;
  }

  resume(): void {
    this.#signal('SIGCONT');
    this.#paused = false;
  }

  #signal(signal: NodeJS.Signals): void {
    const pid = this.#child.pid;
    if (pid !== undefined && !this.#exited) process.kill(pid, signal);
  }

  /** SIGCONT if stopped, SIGTERM, and SIGKILL if it has not exited after `waitMs`. */
  async stop(waitMs = 5_000): Promise<void> {
    if (this.#exited) return;
    this.#stopping = true;
    if (this.#paused) this.resume();
    this.#signal('SIGTERM');
    if (!(await this.until(() => this.#exited, waitMs))) {
      this.rec.errors.push(`did not exit within ${waitMs} ms of SIGTERM; killed`);
      this.#killNow();
      await this.until(() => this.#exited, waitMs);
    }
  }

  #killNow(): void {
    this.#stopping = true;
    const pid = this.#child.pid;
    if (pid === undefined || this.#exited) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

export class LeaseRound {
  readonly #o: LeaseRoundOptions;
  readonly #holders: Holder[] = [];
  #watchers: Watchers | null = null;
  #reads: Workload | null = null;
  #t0Epoch = 0;
  #pauseTask: Promise<void> | null = null;
  readonly #pace = new Pacer();
  readonly #finalClient = 1;

  constructor(o: LeaseRoundOptions) {
    this.#o = o;
  }

  get #live(): Holder | undefined {
    return this.#holders.find((h) => h.rec.role === 'live');
  }

  get #paused(): Holder | undefined {
    return this.#holders.find((h) => h.rec.role === 'paused');
  }

  /**
   * Before the nemesis phase (as soon as the cluster file is written: they ask for their lease
   * until the nodes answer): both holders, awaited until each had its puts acknowledged. Returns
   * what went wrong (nothing: both ready).
   */
  async startHolders(): Promise<string[]> {
    const o = this.#o;
    this.#holders.push(
      new Holder('live', 'live', o.liveTtlMs, o.liveKeys, o),
      new Holder('paused', 'paused', o.pausedTtlMs, o.pausedKeys, o),
    );
    const ready = await Promise.all(
      this.#holders.map((h) => h.until(() => h.rec.ready !== null, readyTimeoutMs)),
    );
    const problems: string[] = [];
    ready.forEach((ok, i) => {
      const h = this.#holders[i]!;
      if (!ok)
        problems.push(
          `lease holder ${h.rec.name} was not ready within ${readyTimeoutMs / 1000} s: ${h.rec.errors.join('; ') || 'no error printed'}`,
        );
      else
        o.log(
          `lease holder ${h.rec.name}: pid ${h.rec.pid}, lease ${h.rec.lease}, ttl ${h.rec.ttlMs} ms, keys ${h.rec.keys.join(',')}`,
        );
    });
    return problems;
  }

  /** Watchers of `lease/`, once the cluster is up (from then on: the holders' puts may come before). */
  startWatchers(): void {
    this.#watchers ??= new Watchers(this.#o.watchers, this.#o.apis, 'lease/', () => Date.now());
  }

  /**
   * The nemesis phase begins: reads are recorded from `t0` (performance.now()) on, and the paused
   * holder is stopped at `pauseAt` (ms since then); `disruptions()` are the faults and changes so far.
   */
  beginPhase(o: {
    t0: number;
    t0Epoch: number;
    now: () => number;
    pauseAt: number;
    endpoints: () => readonly Endpoint[];
    disruptions: () => Disruption[];
  }): void {
    this.#t0Epoch = o.t0Epoch;
    this.#reads = new Workload({
      keys: [],
      clients: 0,
      endpoints: o.endpoints,
      seed: 0,
      timeoutMs: this.#o.clientTimeoutMs,
      t0: o.t0,
    });
    const paused = this.#paused;
    if (paused !== undefined && paused.rec.ready !== null) this.#pauseTask = this.#pauseHolder(paused, o);
  }

  async #pauseHolder(
    h: Holder,
    p: {
      now: () => number;
      pauseAt: number;
      endpoints: () => readonly Endpoint[];
      disruptions: () => Disruption[];
    },
  ): Promise<void> {
    const o = this.#o;
    const reads = this.#reads!;
    await this.#pace.sleep(Math.max(0, p.pauseAt - p.now()));
    if (this.#pace.stopped || !h.running) return;
    h.pause();
    const pausedAt = p.now();
    o.mark?.('lease holder paused', {
      description: `SIGSTOP lease holder ${h.rec.name} (lease ${h.rec.lease})`,
    });
    h.rec.pausedAt = pausedAt + this.#t0Epoch;
    const least = pausedAt + h.rec.ttlMs + o.electionMaxMs + o.pauseMarginMs;
    o.log(
      `lease holder ${h.rec.name}: SIGSTOP (pid ${h.rec.pid}), for ${((least - pausedAt) / 1000).toFixed(1)} s at least`,
    );
    const pending = new Set(h.rec.keys);
    const liveKeys = this.#live?.rec.keys ?? [];
    let polls = 0;
    // Poll until every key answered 404 (or the bound passed), and keep it stopped for `least` at least.
    for (;;) {
      const t = p.now();
      if (this.#pace.stopped) break;
      if (pending.size === 0) {
        if (t >= least) break;
        await this.#pace.sleep(least - t);
        continue;
      }
      const { bound } = expiryBound(pausedAt, h.rec.ttlMs, o.electionMaxMs, o.slackMs, p.disruptions());
      if (t > bound || t > pausedAt + pauseCapMs) {
        o.log(`lease holder ${h.rec.name}: keys ${[...pending].join(',')} still there at the bound; SIGCONT`);
        break;
      }
      const endpoints = p.endpoints();
      for (const key of [...pending]) {
        const r = await reads.invoke(0, key, { f: 'read' }, o.rng.pick(endpoints));
        if (r.outcome === 'ok' && r.output?.kind === 'absent') pending.delete(key);
      }
      // A key of the live lease now and then, among the same faults.
      if (liveKeys.length > 0 && polls++ % 3 === 0)
        await reads.invoke(0, liveKeys[polls % liveKeys.length]!, { f: 'read' }, o.rng.pick(endpoints));
      await sleep(pollEveryMs);
    }
    h.resume();
    const resumedAt = p.now();
    o.mark?.('lease holder resumed', {
      description: `SIGCONT lease holder ${h.rec.name} (lease ${h.rec.lease})`,
    });
    h.rec.resumedAt = resumedAt + this.#t0Epoch;
    o.log(
      `lease holder ${h.rec.name}: SIGCONT after ${((resumedAt - pausedAt) / 1000).toFixed(1)} s; ` +
        `keys ${pending.size === 0 ? 'all gone' : `${[...pending].join(',')} still there`}`,
    );
    // Its renewal timer fires at once: 404, or no renewal for ttl; it says so within one operation.
    await h.until(() => h.rec.lost !== null, holderOperationMs + h.rec.ttlMs + 5_000);
  }

  /**
   * After the heal: waits for the paused holder's part to end, reads every lease key through every
   * node in `nodes` (each until it answers, for up to 30 s), and stops the holders.
   */
  async finish(nodes: readonly Endpoint[]): Promise<string[]> {
    const problems: string[] = [];
    await this.#pauseTask;
    const reads = this.#reads;
    if (reads !== null) {
      for (const h of this.#holders) {
        for (const key of h.rec.keys) {
          for (const node of nodes) {
            const deadline = Date.now() + 30_000;
            let done = false;
            while (!done && Date.now() < deadline) {
              const r = await reads.invoke(this.#finalClient, key, { f: 'read' }, node);
              done = r.outcome === 'ok';
              if (!done) await sleep(200);
            }
            if (!done)
              problems.push(`the final read of lease key ${key} via ${node.id} did not succeed within 30 s`);
          }
        }
      }
    }
    await this.stop();
    return problems;
  }

  /** Stops the pause task and every holder (by PID). */
  async stop(): Promise<void> {
    this.#pace.stop();
    await Promise.all(this.#holders.map((h) => h.stop()));
  }

  async close(): Promise<void> {
    await this.stop();
    await this.#watchers?.stop();
    await this.#reads?.close();
  }

  /** What happened, in ms since the round began, for lease-checker.ts. */
  record(o: { nodes: readonly string[]; disruptions: readonly Disruption[] }): LeaseRecord {
    const e = this.#t0Epoch;
    const holders: HolderRecord[] = this.#holders.map(({ rec: r }) => ({
      ...r,
      granted: r.granted === null ? null : { call: r.granted.call - e, ret: r.granted.ret - e },
      puts: r.puts.map((p) => ({ ...p, call: p.call - e, ret: p.ret - e })),
      ready: r.ready === null ? null : r.ready - e,
      renewals: r.renewals.map((x) => ({ ...x, sentAt: x.sentAt - e, at: x.at - e })),
      lost: r.lost === null ? null : { ...r.lost, at: r.lost.at - e },
      pausedAt: r.pausedAt === null ? null : r.pausedAt - e,
      resumedAt: r.resumedAt === null ? null : r.resumedAt - e,
      errors: [...r.errors],
    }));
    const w = this.#watchers;
    return {
      holders,
      reads: [...(this.#reads?.history ?? [])] as Operation[],
      finalClient: this.#finalClient,
      nodes: o.nodes,
      watch: (w?.records ?? []).map((x) => ({ ...x, at: x.at - e })),
      compactions: (w?.compactions ?? []).map((c) => ({ ...c, at: c.at - e })),
      watchers: this.#o.watchers,
      watchErrors: w?.errors ?? [],
      disruptions: o.disruptions,
      electionMaxMs: this.#o.electionMaxMs,
      slackMs: this.#o.slackMs,
      pauseMarginMs: this.#o.pauseMarginMs,
      holdMaxMs: this.#o.holdMaxMs,
    };
  }
}
