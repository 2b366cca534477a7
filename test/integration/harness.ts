/**
 * The integration harness: a `TestCluster` of real `node dist/cli.js serve` processes on free
 * loopback ports, in a fresh temp dir, driven by verbs (after hashicorp/raft's testing.go):
 * start, kill, term, restart, pause/resume, leaderOf, waitFor, waitReady, put/get/del. Every
 * process is tracked and signalled by its PID; logs go to one file per node in the temp dir and
 * their tails are printed when a test fails. `stop()` kills every process and removes the dir,
 * whatever happened. The build is checked (and redone if stale) before the first cluster starts.
 */

import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, type Dispatcher } from 'undici';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { type NodeProcess, startNode, stopNode } from '../../scripts/local-cluster.js';
import { HashRing, shardMembers } from '../../src/shard/index.js';
import { ensureBuilt } from './build.js';
import {
  type GroupStatus,
  kvPath,
  type NodeStatus,
  type Reply,
  type RequestOptions,
  sendRequest,
} from './node-api.js';
import { freePorts } from './processes.js';
import { type WaitOptions, waitFor } from './wait.js';

export type { ErrorBody, GroupStatus, NodeStatus, Reply, RequestOptions } from './node-api.js';
export { kvPath } from './node-api.js';
export { freePorts, runCli } from './processes.js';
export type { WaitOptions } from './wait.js';

/** Optional tuning fields of the cluster file (README "The cluster file"). */
export interface Tuning {
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly snapshotEntries?: number;
  readonly valueBytesMax?: number;
  readonly requestTimeoutMs?: number;
  readonly requestsInFlightMax?: number;
  readonly eventLoopDelayMaxMs?: number;
}

export interface ClusterOptions {
  /** Names the temp dir and the log lines printed on failure. */
  readonly name: string;
  readonly nodes?: number;
  readonly shards?: number;
  readonly replicas?: number;
  readonly tuning?: Tuning;
  /** Both ports https (the `security.tls` files must then be given in `security`). */
  readonly https?: boolean;
  /** The cluster file's `security` object; its paths are relative to the cluster's temp dir. */
  readonly security?: Record<string, unknown>;
  /** Files written into the cluster's temp dir before the cluster file (name → content). */
  readonly files?: Readonly<Record<string, string | Buffer>>;
  /** Sent as a bearer token with every request of the harness that does not set `authorization`. */
  readonly token?: string;
  /** The CA the harness trusts for https nodes. */
  readonly ca?: Buffer;
  /** Extra environment of one node's process. */
  readonly nodeEnv?: (id: string) => Record<string, string>;
}

export interface NodeSpec {
  readonly id: string;
  readonly api: string;
  readonly peer: string;
}

/** Processes started by any cluster of this worker, killed if the worker exits without stop(). */
const everyChild = new Set<NodeProcess>();
process.once('exit', () => {
  for (const p of everyChild)
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
});

export class TestCluster {
  readonly name: string;
  readonly dir: string;
  readonly configPath: string;
  readonly nodes: readonly NodeSpec[];
  readonly ids: readonly string[];
  readonly shards: number;
  readonly replicas: number;
  readonly ring: HashRing;
  readonly #procs = new Map<string, NodeProcess>();
  readonly #paused = new Set<string>();
  readonly #stopping = new Set<string>();
  /** Spawned but not yet answering /healthz. */
  readonly #starting = new Set<string>();
  readonly #agents = new Map<string, Agent>();
  readonly #client: Pick<ClusterOptions, 'token' | 'ca' | 'nodeEnv'>;
  /** Logs read by stop() before the temp dir goes, for failure reports that come after it. */
  #savedLogs: Map<string, string> | null = null;

  private constructor(
    name: string,
    dir: string,
    nodes: NodeSpec[],
    shards: number,
    replicas: number,
    client: Pick<ClusterOptions, 'token' | 'ca' | 'nodeEnv'>,
  ) {
    this.name = name;
    this.#client = client;
    this.dir = dir;
    this.configPath = join(dir, 'cluster.json');
    this.nodes = nodes;
    this.ids = nodes.map((n) => n.id);
    this.shards = shards;
    this.replicas = replicas;
    this.ring = new HashRing(shards);
  }

  /** Writes a cluster file with free ports for every node into a fresh temp dir. Starts nothing. */
  static async create(o: ClusterOptions): Promise<TestCluster> {
    await ensureBuilt();
    const count = o.nodes ?? 3;
    const shards = o.shards ?? 3;
    const ports = await freePorts(2 * count);
    const scheme = o.https === true ? 'https' : 'http';
    const nodes = Array.from({ length: count }, (_, i) => ({
      id: `n${i + 1}`,
      api: `${scheme}://127.0.0.1:${ports[2 * i]}`,
      peer: `${scheme}://127.0.0.1:${ports[2 * i + 1]}`,
    }));
    const dir = mkdtempSync(join(tmpdir(), `raftkv-it-${o.name}-`));
    const replicas = o.replicas ?? Math.min(3, count);
    const cluster = new TestCluster(o.name, dir, nodes, shards, replicas, o);
    for (const [name, content] of Object.entries(o.files ?? {})) writeFileSync(join(dir, name), content);
    const file = { nodes, shards, replicas, ...o.tuning, ...(o.security ? { security: o.security } : {}) };
    writeFileSync(cluster.configPath, `${JSON.stringify(file, null, 2)}\n`);
    return cluster;
  }

  spec(id: string): NodeSpec {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id} in cluster ${this.name}`);
    return n;
  }

  dataDir(id: string): string {
    return join(this.dir, 'data', id);
  }

  logPath(id: string): string {
    return join(this.dir, `${id}.log`);
  }

  pid(id: string): number {
    const pid = this.#procs.get(id)?.child.pid;
    if (pid === undefined) throw new Error(`node ${id} is not running`);
    return pid;
  }

  /** True while the node's process runs (paused or not). */
  isRunning(id: string): boolean {
    const p = this.#procs.get(id);
    return p !== undefined && p.child.exitCode === null && p.child.signalCode === null;
  }

  /** Nodes that run, answer, are not paused and are not being stopped: the ones a client may use. */
  running(): string[] {
    return this.ids.filter(
      (id) =>
        this.isRunning(id) && !this.#paused.has(id) && !this.#stopping.has(id) && !this.#starting.has(id),
    );
  }

  /**
   * Starts the given nodes (all by default) and waits until each answers /healthz. Fails, with
   * the node's log tail, if one exits first.
   */
  async start(...ids: string[]): Promise<void> {
    const which = ids.length > 0 ? ids : this.ids;
    for (const id of which) this.#spawn(id);
    await Promise.all(which.map((id) => this.#waitListening(id)));
  }

  #spawn(id: string): void {
    if (this.isRunning(id)) throw new Error(`node ${id} is already running`);
    const log = this.logPath(id);
    const p = startNode(
      { configPath: this.configPath, id, dataDir: this.dataDir(id), env: this.#client.nodeEnv?.(id) },
      (_id, chunk) => appendFileSync(log, chunk),
    );
    appendFileSync(log, `--- harness: started ${id} pid ${p.child.pid} ---\n`);
    everyChild.add(p);
    void p.exited.then((code) => {
      everyChild.delete(p);
      appendFileSync(log, `--- harness: ${id} pid ${p.child.pid} exited (${code}) ---\n`);
    });
    this.#procs.set(id, p);
    this.#paused.delete(id);
    this.#stopping.delete(id);
    this.#starting.add(id);
    this.#resetAgent(id);
  }

  async #waitListening(id: string): Promise<void> {
    await this.waitFor(
      async () => {
        if (!this.isRunning(id)) {
          throw new Error(`node ${id} exited during start-up:\n${this.logTail(id)}`);
        }
        try {
          return (await this.request('GET', '/healthz', { node: id, timeoutMs: 1_000 })).status === 200;
        } catch {
          return false;
        }
      },
      { timeoutMs: 20_000, what: `node ${id} to answer /healthz`, fatal: true },
    );
    this.#starting.delete(id);
  }

  /** SIGKILL by PID; resolves once the process is gone. */
  async kill(id: string): Promise<void> {
    const p = this.#must(id);
    this.#stopping.add(id);
    await stopNode(p, 'SIGKILL');
    this.#resetAgent(id);
  }

  /**
   * SIGTERM by PID (sent before this returns its promise); resolves with the exit code. A node
   * still running after `waitMs` gets SIGKILL, and -1 is the result.
   */
  async term(id: string, o: { waitMs?: number } = {}): Promise<number | null> {
    const p = this.#must(id);
    this.#stopping.add(id);
    if (this.#paused.delete(id)) p.child.kill('SIGCONT');
    const code = await stopNode(p, 'SIGTERM', o.waitMs ?? 20_000);
    this.#resetAgent(id);
    return code;
  }

  /** SIGTERM (if running) and start again on the same data dir; resolves once it answers /healthz. */
  async restart(id: string): Promise<void> {
    if (this.isRunning(id)) await this.term(id);
    await this.start(id);
  }

  /** SIGSTOP: the process stays, silent, holding its ports. */
  pause(id: string): void {
    this.#must(id).child.kill('SIGSTOP');
    this.#paused.add(id);
  }

  /** SIGCONT after pause(). */
  resume(id: string): void {
    this.#must(id).child.kill('SIGCONT');
    this.#paused.delete(id);
    this.#resetAgent(id);
  }

  #must(id: string): NodeProcess {
    const p = this.#procs.get(id);
    if (p === undefined || !this.isRunning(id)) throw new Error(`node ${id} is not running`);
    return p;
  }

  /** One client connection pool per node incarnation, so no request rides a dead keep-alive socket. */
  #agent(id: string): Dispatcher {
    let agent = this.#agents.get(id);
    if (agent === undefined) {
      const ca = this.#client.ca;
      agent = new Agent({
        connections: 64,
        keepAliveTimeout: 10_000,
        connect: ca === undefined ? {} : { ca },
      });
      this.#agents.set(id, agent);
    }
    return agent;
  }

  #resetAgent(id: string): void {
    const agent = this.#agents.get(id);
    this.#agents.delete(id);
    if (agent !== undefined) void agent.destroy().catch(() => undefined);
  }

  // --- HTTP ---------------------------------------------------------------------------------

  /** One request to one node's API; throws on a network error or after `timeoutMs`. */
  async request(method: string, path: string, o: RequestOptions = {}): Promise<Reply> {
    const id = o.node ?? this.running()[0];
    if (id === undefined) throw new Error('no running node to ask');
    // An `authorization` header of '' sends none.
    const headers: Record<string, string> = { ...o.headers };
    if (headers.authorization === undefined && this.#client.token !== undefined)
      headers.authorization = `Bearer ${this.#client.token}`;
    if (headers.authorization === '') delete headers.authorization;
    return sendRequest(`${this.spec(id).api}${path}`, method, { ...o, headers }, this.#agent(id));
  }

  put(key: string, value: Buffer | string, o: RequestOptions = {}): Promise<Reply> {
    return this.request('PUT', kvPath(key), {
      ...o,
      body: value,
      headers: { 'content-type': 'application/octet-stream', ...o.headers },
    });
  }

  get(key: string, o: RequestOptions & { stale?: boolean } = {}): Promise<Reply> {
    return this.request('GET', `${kvPath(key)}${o.stale === true ? '?consistency=stale' : ''}`, o);
  }

  del(key: string, o: RequestOptions = {}): Promise<Reply> {
    return this.request('DELETE', kvPath(key), o);
  }

  async status(id: string, timeoutMs = 2_000): Promise<NodeStatus> {
    const r = await this.request('GET', '/v1/status', { node: id, timeoutMs });
    if (r.status !== 200) throw new Error(`GET /v1/status on ${id} answered ${r.status}: ${r.text()}`);
    return r.json<NodeStatus>();
  }

  /** This node's status of one shard group; throws if the node does not host it. */
  async groupStatus(id: string, shard: number): Promise<GroupStatus> {
    const g = (await this.status(id)).groups.find((x) => x.shard === shard);
    if (g === undefined) throw new Error(`node ${id} hosts no group of shard ${shard}`);
    return g;
  }

  // --- Cluster state ------------------------------------------------------------------------

  /** The shard's leader with the highest term among running nodes that answer, or null. */
  async leaderOf(shard: number): Promise<string | null> {
    let best: GroupStatus | null = null;
    await Promise.all(
      this.running().map(async (id) => {
        try {
          const g = (await this.status(id, 1_000)).groups.find((x) => x.shard === shard);
          if (g?.role === 'leader' && (best === null || g.term > best.term)) best = g;
        } catch {
          // A node that does not answer has no say.
        }
      }),
    );
    return (best as GroupStatus | null)?.id ?? null;
  }

  /**
   * Waits until the shard has a leader (other than `not`) that every running member of the
   * shard recognises, so requests through any node reach it; resolves with its id.
   */
  async waitLeader(shard: number, o: WaitOptions & { not?: string } = {}): Promise<string> {
    return this.waitFor(
      async () => {
        const leader = await this.leaderOf(shard);
        if (leader === null || leader === o.not) return null;
        for (const id of this.running()) {
          const g = (await this.status(id, 1_000)).groups.find((x) => x.shard === shard);
          if (g !== undefined && g.leader !== leader) return null;
        }
        return leader;
      },
      { timeoutMs: 10_000, what: `a leader of shard ${shard}${o.not ? ` other than ${o.not}` : ''}`, ...o },
    );
  }

  /** The members of `shard` in placement order; the first is its preferred leader. */
  membersOf(shard: number): string[] {
    return shardMembers(this.ids, shard, Math.min(this.replicas, this.ids.length));
  }

  /**
   * Waits until leadership has settled: every shard is led by its preferred member (its first
   * member, which nodes hand leadership back to) when that member runs, else by any member, and
   * every running member recognises that leader. Resolves with the leader of each shard.
   */
  async waitBalanced(o: WaitOptions = {}): Promise<string[]> {
    return this.waitFor(
      async () => {
        const leaders: string[] = [];
        for (let shard = 0; shard < this.shards; shard++) {
          const preferred = this.membersOf(shard)[0]!;
          const leader = await this.leaderOf(shard);
          if (leader === null) return null;
          if (this.running().includes(preferred) && leader !== preferred) return null;
          for (const id of this.running()) {
            const g = (await this.status(id, 1_000)).groups.find((x) => x.shard === shard);
            if (g !== undefined && (g.leader !== leader || g.transferee !== null)) return null;
          }
          leaders.push(leader);
        }
        return leaders;
      },
      { timeoutMs: 20_000, what: 'every shard led by its preferred member', ...o },
    );
  }

  /** Waits until every running node answers /readyz with 200. */
  async waitReady(o: WaitOptions = {}): Promise<void> {
    await this.waitFor(
      async () => {
        const ids = this.running();
        const codes = await Promise.all(
          ids.map((id) =>
            this.request('GET', '/readyz', { node: id, timeoutMs: 1_000 }).then(
              (r) => r.status,
              () => 0,
            ),
          ),
        );
        return ids.length > 0 && codes.every((c) => c === 200);
      },
      { timeoutMs: 20_000, what: 'every running node to be ready', ...o },
    );
  }

  /** See waitFor() in wait.ts. */
  waitFor<T>(
    cond: () => T | null | undefined | false | Promise<T | null | undefined | false>,
    o: WaitOptions & { fatal?: boolean } = {},
  ): Promise<T> {
    return waitFor(cond, o);
  }

  // --- Keys ---------------------------------------------------------------------------------

  shardOf(key: string): number {
    return this.ring.shardOf(key);
  }

  /** `count` distinct keys `${prefix}${i}` that belong to `shard`. */
  keysOfShard(shard: number, count: number, prefix: string): string[] {
    const keys: string[] = [];
    for (let i = 0; keys.length < count; i++) {
      const key = `${prefix}${i}`;
      if (this.shardOf(key) === shard) keys.push(key);
    }
    return keys;
  }

  // --- Logs ---------------------------------------------------------------------------------

  logText(id: string): string {
    const saved = this.#savedLogs?.get(id);
    if (saved !== undefined) return saved;
    const path = this.logPath(id);
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  }

  /** The node's pino lines whose `msg` is `msg`. */
  logEvents(id: string, msg: string): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.logText(id).split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        if (o.msg === msg) out.push(o);
      } catch {
        // A line cut by a kill.
      }
    }
    return out;
  }

  logTail(id: string, lines = 30): string {
    return this.logText(id).trimEnd().split('\n').slice(-lines).join('\n');
  }

  printLogTails(lines = 30): void {
    for (const id of this.ids) {
      console.log(
        `[${this.name}] --- last ${lines} log lines of ${id} (${this.logPath(id)}) ---\n${this.logTail(id, lines)}`,
      );
    }
  }

  /** Kills every process of this cluster by PID (paused ones too) and removes the temp dir. */
  async stop(): Promise<void> {
    await Promise.all(
      [...this.#procs.values()].map(async (p) => {
        if (p.child.exitCode === null && p.child.signalCode === null) {
          p.child.kill('SIGKILL');
          await p.exited;
        }
      }),
    );
    await Promise.all([...this.#agents.values()].map((a) => a.destroy().catch(() => undefined)));
    this.#agents.clear();
    this.#savedLogs = new Map(this.ids.map((id) => [id, this.logText(id)]));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A cluster for the enclosing describe block: created, started, ready and with leadership settled
 * in beforeAll; stopped in afterAll (even when tests fail); every node's log tail is printed for a
 * failing test.
 */
export function useCluster(o: ClusterOptions): () => TestCluster {
  let cluster: TestCluster | null = null;
  beforeAll(async () => {
    cluster = await TestCluster.create(o);
    try {
      await cluster.start();
      await cluster.waitReady();
      await cluster.waitBalanced();
    } catch (err) {
      cluster.printLogTails();
      throw err;
    }
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  beforeEach((ctx) => {
    ctx.onTestFailed(() => cluster?.printLogTails());
  });
  return () => {
    if (cluster === null) throw new Error('the cluster is created in beforeAll');
    return cluster;
  };
}
