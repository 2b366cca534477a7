/**
 * A real multi-process raftkv cluster for fault injection: `node dist/cli.js serve` processes, each
 * in its own network namespace (with a NetLab) or on loopback ports, started, SIGKILLed,
 * restarted, paused (SIGSTOP) and resumed (SIGCONT) by PID. Each node's JSON log goes to
 * `<logDir>/<id>.log`, with lines of the harness's own (`{"harness": ...}`) marking starts, exits
 * and faults, so a log can be read against the history. Every process is recorded in the round's
 * slot and killed on exit, whatever happened.
 */

import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { type NodeProcess, startNode } from '../../scripts/local-cluster.js';
import { HashRing, placeShards } from '../../src/shard/index.js';
import { freePorts } from '../integration/processes.js';
import { onExit } from './cleanup.js';
import type { NetLab, Slot } from './netns.js';

/** Optional fields of the cluster file (README "The cluster file"). */
export interface Tuning {
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly snapshotEntries?: number;
  readonly requestTimeoutMs?: number;
}

export interface ClusterNode {
  readonly id: string;
  readonly api: string;
  readonly peer: string;
  readonly netns: string | null;
  readonly bind: string | null;
}

export interface FaultClusterOptions {
  /** Holds cluster.json and data/<id>/. */
  readonly dir: string;
  readonly logDir: string;
  readonly nodes: number;
  readonly shards: number;
  readonly replicas: number;
  readonly tuning: Tuning;
  /** Namespaces to run the nodes in; null runs them on loopback (no partitions possible). */
  readonly net: NetLab | null;
  readonly slot: Slot;
  /** The cli.js the nodes run (a private copy of the build); dist/cli.js by default. */
  readonly cli?: string;
}

/** One group as GET /v1/status reports it (the fields used here). */
export interface GroupStatus {
  readonly shard: number;
  readonly members: string[];
  readonly role: string;
  readonly term: number;
  readonly leader: string | null;
  readonly commit: number;
  readonly applied: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class FaultCluster {
  readonly dir: string;
  readonly configPath: string;
  readonly logDir: string;
  readonly nodes: readonly ClusterNode[];
  readonly ids: readonly string[];
  readonly shards: number;
  readonly ring: HashRing;
  /** Members of each shard, by shard. */
  readonly placement: readonly (readonly string[])[];
  readonly #slot: Slot;
  readonly #cli: string | undefined;
  readonly #procs = new Map<string, NodeProcess>();
  readonly #paused = new Set<string>();
  readonly #agent = new Agent({ connections: 8, keepAliveTimeout: 2_000, connect: { timeout: 1_000 } });
  readonly #unregister: () => void;

  private constructor(o: FaultClusterOptions, nodes: ClusterNode[]) {
    this.dir = o.dir;
    this.configPath = join(o.dir, 'cluster.json');
    this.logDir = o.logDir;
    this.nodes = nodes;
    this.ids = nodes.map((n) => n.id);
    this.shards = o.shards;
    this.ring = new HashRing(o.shards);
    this.placement = placeShards(this.ids, o.shards, o.replicas);
    this.#slot = o.slot;
    this.#cli = o.cli;
    this.#unregister = onExit('cluster processes', () => this.killAllSync());
  }

  /** Writes the cluster file; starts nothing. */
  static async create(o: FaultClusterOptions): Promise<FaultCluster> {
    const ids = Array.from({ length: o.nodes }, (_, i) => `n${i + 1}`);
    let nodes: ClusterNode[];
    if (o.net !== null) {
      const net = o.net;
      nodes = ids.map((id) => {
        const n = net.node(id);
        return { id, api: `http://${n.addr}:7001`, peer: `http://${n.addr}:7101`, netns: n.ns, bind: n.addr };
      });
    } else {
      const ports = await freePorts(2 * ids.length);
      nodes = ids.map((id, i) => ({
        id,
        api: `http://127.0.0.1:${ports[2 * i]}`,
        peer: `http://127.0.0.1:${ports[2 * i + 1]}`,
        netns: null,
        bind: null,
      }));
    }
    mkdirSync(o.dir, { recursive: true });
    mkdirSync(o.logDir, { recursive: true });
    const file = {
      nodes: nodes.map(({ id, api, peer }) => ({ id, api, peer })),
      shards: o.shards,
      replicas: o.replicas,
      ...o.tuning,
    };
    writeFileSync(join(o.dir, 'cluster.json'), `${JSON.stringify(file, null, 2)}\n`);
    return new FaultCluster(o, nodes);
  }

  node(id: string): ClusterNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  logPath(id: string): string {
    return join(this.logDir, `${id}.log`);
  }

  /** Appends a harness line to every node's log (JSON, like the node's own lines). */
  mark(event: string, detail: Record<string, unknown> = {}): void {
    const line = `${JSON.stringify({ time: Date.now(), harness: event, ...detail })}\n`;
    for (const id of this.ids) appendFileSync(this.logPath(id), line);
  }

  isRunning(id: string): boolean {
    const p = this.#procs.get(id);
    return p !== undefined && p.child.exitCode === null && p.child.signalCode === null;
  }

  isPaused(id: string): boolean {
    return this.#paused.has(id);
  }

  /** Running and not paused: can answer. */
  up(): string[] {
    return this.ids.filter((id) => this.isRunning(id) && !this.#paused.has(id));
  }

  pid(id: string): number | null {
    return this.isRunning(id) ? (this.#procs.get(id)?.child.pid ?? null) : null;
  }

  /** Starts a node and waits until it answers /healthz; fails with its log's tail if it exits first. */
  async start(id: string, timeoutMs = 30_000): Promise<void> {
    if (this.isRunning(id)) throw new Error(`node ${id} is already running`);
    const n = this.node(id);
    const log = this.logPath(id);
    const p = startNode(
      {
        configPath: this.configPath,
        id,
        dataDir: join(this.dir, 'data', id),
        ...(n.netns === null ? {} : { netns: n.netns }),
        ...(n.bind === null ? {} : { bind: n.bind }),
        ...(this.#cli === undefined ? {} : { cli: this.#cli }),
      },
      (_id, chunk) => appendFileSync(log, chunk),
    );
    const pid = p.child.pid;
    if (pid !== undefined) this.#slot.recordProcess(pid);
    appendFileSync(log, `${JSON.stringify({ time: Date.now(), harness: 'started', id, pid })}\n`);
    void p.exited.then((code) =>
      appendFileSync(log, `${JSON.stringify({ time: Date.now(), harness: 'exited', id, pid, code })}\n`),
    );
    this.#procs.set(id, p);
    this.#paused.delete(id);
    const deadline = Date.now() + timeoutMs;
    while (true) {
      if (!this.isRunning(id)) throw new Error(`node ${id} exited during start-up; see ${log}`);
      try {
        const res = await request(`${n.api}/healthz`, {
          dispatcher: this.#agent,
          signal: AbortSignal.timeout(1_000),
        });
        await res.body.dump();
        if (res.statusCode === 200) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`node ${id} did not answer /healthz within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  async startAll(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.start(id)));
  }

  /** SIGKILL by PID; resolves once the process is gone. */
  async kill(id: string): Promise<void> {
    const p = this.#procs.get(id);
    if (p === undefined || !this.isRunning(id)) return;
    p.child.kill('SIGKILL');
    await p.exited;
    this.#paused.delete(id);
  }

  /** SIGSTOP: the process keeps its ports and sockets but does nothing. */
  pause(id: string): void {
    const p = this.#procs.get(id);
    if (p === undefined || !this.isRunning(id)) throw new Error(`node ${id} is not running`);
    p.child.kill('SIGSTOP');
    this.#paused.add(id);
  }

  resume(id: string): void {
    const p = this.#procs.get(id);
    if (p !== undefined && this.isRunning(id)) p.child.kill('SIGCONT');
    this.#paused.delete(id);
  }

  async status(id: string, timeoutMs = 1_000): Promise<{ id: string; groups: GroupStatus[] }> {
    const res = await request(`${this.node(id).api}/v1/status`, {
      dispatcher: this.#agent,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`GET /v1/status on ${id} answered ${res.statusCode}`);
    return JSON.parse(text) as { id: string; groups: GroupStatus[] };
  }

  /** Every group status that the nodes that are up report, by node. */
  async statuses(timeoutMs = 1_000): Promise<Map<string, GroupStatus[]>> {
    const out = new Map<string, GroupStatus[]>();
    await Promise.all(
      this.up().map(async (id) => {
        try {
          out.set(id, (await this.status(id, timeoutMs)).groups);
        } catch {
          // Not answering: counts as no opinion.
        }
      }),
    );
    return out;
  }

  /**
   * The leader of each shard that a majority of the shard's members acknowledge (same leader,
   * same term), or null.
   */
  async leaders(): Promise<(string | null)[]> {
    const all = await this.statuses();
    return this.placement.map((members, shard) => {
      const votes = new Map<string, number>();
      for (const [, groups] of all) {
        const g = groups.find((x) => x.shard === shard);
        if (g?.leader == null) continue;
        const k = `${g.leader}@${g.term}`;
        votes.set(k, (votes.get(k) ?? 0) + 1);
      }
      for (const [k, n] of votes) {
        const [leader, term] = k.split('@') as [string, string];
        const leaderSays = all.get(leader)?.find((x) => x.shard === shard);
        if (n > members.length / 2 && leaderSays?.role === 'leader' && String(leaderSays.term) === term)
          return leader;
      }
      return null;
    });
  }

  /** The node that believes it leads `shard` with the highest term, among nodes that are up. */
  async leaderOf(shard: number): Promise<string | null> {
    let best: { id: string; term: number } | null = null;
    for (const [id, groups] of await this.statuses()) {
      const g = groups.find((x) => x.shard === shard);
      if (g?.role === 'leader' && (best === null || g.term > best.term)) best = { id, term: g.term };
    }
    return best?.id ?? null;
  }

  /** Waits until every shard has a leader acknowledged by a majority; returns them. */
  async waitForLeaders(timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    let last: (string | null)[] = [];
    while (Date.now() < deadline) {
      last = await this.leaders();
      if (last.every((l) => l !== null)) return last as string[];
      await sleep(200);
    }
    const missing = last.map((l, s) => (l === null ? s : -1)).filter((s) => s >= 0);
    throw new Error(`shard(s) ${missing.join(', ')} had no leader after ${timeoutMs} ms`);
  }

  /** SIGKILLs every node (paused ones too) and waits for the processes to go. */
  async stopAll(): Promise<void> {
    const exits: Promise<unknown>[] = [];
    for (const id of this.ids) {
      const p = this.#procs.get(id);
      if (p === undefined || !this.isRunning(id)) continue;
      p.child.kill('SIGKILL');
      exits.push(p.exited);
    }
    await Promise.all(exits);
    this.#paused.clear();
    this.#unregister();
    await this.#agent.close().catch(() => undefined);
  }

  /** For exit handlers: SIGKILL by PID, without waiting. */
  killAllSync(): void {
    for (const id of this.ids) {
      const p = this.#procs.get(id);
      if (p !== undefined && this.isRunning(id)) p.child.kill('SIGKILL');
    }
  }
}
