/**
 * A `TestCluster` of real `node dist/cli.js serve` processes, driven by verbs (after hashicorp/raft's
 * testing.go): start, join (a node beyond the cluster file, `serve --join`), kill (SIGKILL), term
 * (SIGTERM), restart, pause (SIGSTOP) / resume (SIGCONT), leaderOf, leaders, waitLeader(s),
 * waitBalanced, waitReady, put/get/del. Nodes listen on free loopback ports, or where `specs`
 * says (another address, a network namespace). Every process is signalled by its PID, never by
 * name, and SIGKILLed on exit if it still runs (cleanup.ts); each node's output goes to its log
 * (node-logs.ts). `stop()` kills every process, and removes the cluster's directory if the
 * cluster made it. The build is checked (and redone if stale) before the first cluster that runs
 * dist/ starts.
 */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashRing, shardMembers } from '../src/shard/index.js';
import { ensureBuilt } from './build.js';
import { onExit } from './cleanup.js';
import { loopbackSpecs, type NodeSpec, type Tuning, writeClusterFile } from './cluster-file.js';
import { highestTermLeader, majorityLeader } from './leadership.js';
import { type GroupStatus, kvPath, type NodeStatus, type Reply, type RequestOptions } from './node-api.js';
import { NodeClients } from './node-clients.js';
import { NodeLogs } from './node-logs.js';
import { isAlive, type JoinSpec, type NodeProcess, startNode, stopNode } from './node-process.js';
import { freePorts } from './ports.js';
import { type WaitOptions, waitFor } from './wait.js';

export interface ClusterOptions {
  /** Names the temp dir and the log lines printed on failure. */
  readonly name: string;
  /** Holds cluster.json and data/<id>/; kept by stop(). By default a fresh temp dir, which stop() removes. */
  readonly dir?: string;
  /** Holds the node logs, <id>.log; the cluster's dir by default. */
  readonly logDir?: string;
  /** How many nodes (n1, n2, ...) on free loopback ports, when `specs` does not name them; 3 by default. */
  readonly nodes?: number;
  /** The nodes, where they listen and in which network namespace. */
  readonly specs?: readonly NodeSpec[];
  readonly shards?: number;
  readonly replicas?: number;
  /** The cluster file's clusterId (e.g. a cluster restored from another's backup needs its own). */
  readonly clusterId?: string;
  readonly tuning?: Tuning;
  /** Both ports https (the `security.tls` files must then be given in `security`). */
  readonly https?: boolean;
  /** The cluster file's `security` object; its paths are relative to the cluster's dir. */
  readonly security?: Record<string, unknown>;
  /** Files written into the cluster's dir before the cluster file (name → content). */
  readonly files?: Readonly<Record<string, string | Buffer>>;
  /** Sent as a bearer token with every request of the harness that does not set `authorization`. */
  readonly token?: string;
  /** The CA the harness trusts for https nodes. */
  readonly ca?: Buffer;
  /** Extra environment of one node's process. */
  readonly nodeEnv?: (id: string) => Record<string, string>;
  /** The cli.js the nodes run, e.g. a private copy of the build; dist/cli.js (built if stale) by default. */
  readonly cli?: string;
  /** Told every node process's PID as soon as it is spawned (to record it elsewhere). */
  readonly onSpawn?: (id: string, pid: number) => void;
}

/** How long start() waits for a node to answer /healthz. */
const startTimeoutMs = 30_000;

export class TestCluster {
  readonly name: string;
  readonly dir: string;
  readonly configPath: string;
  /** The cluster file's nodes, then those that joined. */
  readonly #nodes: NodeSpec[];
  /** The cluster file's node ids: its placement of shards. */
  readonly #fileIds: readonly string[];
  /** Nodes started with `serve --join`: what they ask (again on a restart, which then asks nothing). */
  readonly #joins = new Map<string, JoinSpec>();
  readonly shards: number;
  readonly replicas: number;
  readonly ring: HashRing;
  readonly logs: NodeLogs;
  readonly #o: ClusterOptions;
  /** Whether stop() removes `dir` (the cluster made it). */
  readonly #ownsDir: boolean;
  readonly #procs = new Map<string, NodeProcess>();
  readonly #paused = new Set<string>();
  readonly #stopping = new Set<string>();
  /** Spawned but not yet answering /healthz. */
  readonly #starting = new Set<string>();
  readonly #clients: NodeClients;
  readonly #forgetCleanup: () => void;

  private constructor(o: ClusterOptions, dir: string, ownsDir: boolean, nodes: readonly NodeSpec[]) {
    this.name = o.name;
    this.#o = o;
    this.dir = dir;
    this.#ownsDir = ownsDir;
    this.configPath = join(dir, 'cluster.json');
    this.#nodes = [...nodes];
    this.#fileIds = nodes.map((n) => n.id);
    this.shards = o.shards ?? 3;
    this.replicas = o.replicas ?? Math.min(3, nodes.length);
    this.ring = new HashRing(this.shards);
    this.logs = new NodeLogs(o.logDir ?? dir, this.ids);
    this.#clients = new NodeClients(o);
    this.#forgetCleanup = onExit(`the processes of cluster ${o.name}`, () => this.#killAllNow());
  }

  /** Writes the cluster file (and `files`) into the cluster's dir. Starts nothing. */
  static async create(o: ClusterOptions): Promise<TestCluster> {
    if (o.cli === undefined) await ensureBuilt();
    const nodes = o.specs ?? (await loopbackSpecs(o.nodes ?? 3, o.https === true ? 'https' : 'http'));
    const dir = o.dir ?? mkdtempSync(join(tmpdir(), `raftkv-it-${o.name}-`));
    mkdirSync(dir, { recursive: true });
    const cluster = new TestCluster(o, dir, o.dir === undefined, nodes);
    for (const [name, content] of Object.entries(o.files ?? {})) writeFileSync(join(dir, name), content);
    writeClusterFile(cluster.configPath, {
      nodes,
      shards: cluster.shards,
      replicas: cluster.replicas,
      tuning: o.tuning,
      security: o.security,
      clusterId: o.clusterId,
    });
    return cluster;
  }

  /** Every node: the cluster file's, then those that joined. */
  get nodes(): readonly NodeSpec[] {
    return this.#nodes;
  }

  get ids(): readonly string[] {
    return this.#nodes.map((n) => n.id);
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
    return this.logs.path(id);
  }

  pid(id: string): number {
    const pid = this.#procs.get(id)?.child.pid;
    if (pid === undefined || !this.isRunning(id)) throw new Error(`node ${id} is not running`);
    return pid;
  }

  /** True while the node's process runs (paused or not). */
  isRunning(id: string): boolean {
    const p = this.#procs.get(id);
    return p !== undefined && isAlive(p);
  }

  /** True between pause() and resume() (or the node's end). */
  isPaused(id: string): boolean {
    return this.#paused.has(id) && this.isRunning(id);
  }

  /** Nodes that run, answer, are not paused and are not being stopped: the ones a client may use. */
  running(): string[] {
    return this.ids.filter(
      (id) =>
        this.isRunning(id) && !this.#paused.has(id) && !this.#stopping.has(id) && !this.#starting.has(id),
    );
  }

  // --- Processes ----------------------------------------------------------------------------

  /**
   * Starts the given nodes (all by default) and waits until each answers /healthz. Fails, with
   * the node's log tail, if one exits first.
   */
  async start(...ids: string[]): Promise<void> {
    const which = ids.length > 0 ? ids : this.ids;
    for (const id of which) this.#spawn(id);
    await Promise.all(which.map((id) => this.#waitListening(id)));
  }

  /**
   * Starts a node that is not in the cluster file, on free loopback ports, with `serve --join`
   * asking the nodes `via` (README "Growing and shrinking the cluster"); resolves once it has
   * joined and serves its own API. From then on it is one of the cluster's nodes (`ids`,
   * `running()`, restart). Only for clusters without a `security` object (so plain http): the
   * joining node gets the cluster secret from its environment, as every node here does. `spec`
   * places it elsewhere (a network namespace's address).
   */
  async join(id: string, o: { via: readonly string[]; spec?: NodeSpec }): Promise<void> {
    if (this.#nodes.some((n) => n.id === id))
      throw new Error(`node ${id} is already in cluster ${this.name}`);
    if (this.#o.security !== undefined) throw new Error('join() needs a cluster without a security object');
    if (o.spec !== undefined && o.spec.id !== id) throw new Error(`spec ${o.spec.id} given to join ${id}`);
    let spec = o.spec;
    if (spec === undefined) {
      const [api, peer] = await freePorts(2);
      spec = { id, api: `http://127.0.0.1:${api}`, peer: `http://127.0.0.1:${peer}` };
    }
    this.#nodes.push(spec);
    this.logs.add(id);
    this.#joins.set(id, {
      urls: o.via.map((v) => this.spec(v).api),
      api: spec.api,
      peer: spec.peer,
    });
    await this.start(id);
  }

  #spawn(id: string): void {
    if (this.isRunning(id)) throw new Error(`node ${id} is already running`);
    const n = this.spec(id);
    const join = this.#joins.get(id);
    const p = startNode(
      {
        ...(join === undefined ? { configPath: this.configPath } : { join }),
        id,
        dataDir: this.dataDir(id),
        env: this.#o.nodeEnv?.(id),
        netns: n.netns,
        bind: n.bind,
        cli: this.#o.cli,
      },
      (_id, chunk) => this.logs.append(id, chunk),
    );
    const pid = p.child.pid;
    if (pid !== undefined) this.#o.onSpawn?.(id, pid);
    this.logs.note(id, 'started', { pid }, `--- harness: started ${id} pid ${pid} ---`);
    void p.exited.then((code) =>
      this.logs.note(id, 'exited', { pid, code }, `--- harness: ${id} pid ${pid} exited (${code}) ---`),
    );
    this.#procs.set(id, p);
    this.#paused.delete(id);
    this.#stopping.delete(id);
    this.#starting.add(id);
    this.#clients.reset(id);
  }

  async #waitListening(id: string): Promise<void> {
    await this.waitFor(
      async () => {
        if (!this.isRunning(id)) {
          throw new Error(`node ${id} exited during start-up:\n${this.logTail(id)}`);
        }
        try {
          // A joining node answers /healthz on its API port while it asks to join (as `joining`).
          const r = await this.request('GET', '/healthz', { node: id, timeoutMs: 1_000 });
          return r.status === 200 && r.json<{ joining?: boolean }>().joining !== true;
        } catch {
          return false;
        }
      },
      { timeoutMs: startTimeoutMs, what: `node ${id} to answer /healthz`, fatal: true },
    );
    this.#starting.delete(id);
  }

  /** SIGKILL by PID (paused or not); resolves once the process is gone. */
  async kill(id: string): Promise<void> {
    const p = this.#must(id);
    this.#stopping.add(id);
    await stopNode(p, 'SIGKILL');
    this.#paused.delete(id);
    this.#clients.reset(id);
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
    this.#clients.reset(id);
    return code;
  }

  /**
   * A node the cluster removed (drained, or removed by force): SIGKILL if it still runs, delete its
   * data directory, and forget it, so it is no longer among `ids` and its id may join again (as a
   * new node, with an empty directory). Its log file stays and goes on under the same name.
   */
  async retire(id: string): Promise<void> {
    if (this.isRunning(id)) await this.kill(id);
    rmSync(this.dataDir(id), { recursive: true, force: true });
    const i = this.#nodes.findIndex((n) => n.id === id);
    if (i >= 0) this.#nodes.splice(i, 1);
    this.#joins.delete(id);
    this.#procs.delete(id);
    this.#paused.delete(id);
    this.#stopping.delete(id);
    this.#starting.delete(id);
    this.logs.note(id, 'retired', {}, `--- harness: ${id} retired (data directory deleted) ---`);
  }

  /** SIGTERM (if running) and start again on the same data dir; resolves once it answers /healthz. */
  async restart(id: string): Promise<void> {
    if (this.isRunning(id)) await this.term(id);
    await this.start(id);
  }

  /** SIGSTOP: the process stays, silent, holding its ports and sockets. */
  pause(id: string): void {
    this.#must(id).child.kill('SIGSTOP');
    this.#paused.add(id);
  }

  /** SIGCONT after pause(). */
  resume(id: string): void {
    this.#must(id).child.kill('SIGCONT');
    this.#paused.delete(id);
    this.#clients.reset(id);
  }

  /** Marks every node's log with a line of the harness (a fault, a phase of a run). */
  mark(event: string, detail: Record<string, unknown> = {}): void {
    this.logs.mark(event, detail);
  }

  #must(id: string): NodeProcess {
    const p = this.#procs.get(id);
    if (p === undefined || !isAlive(p)) throw new Error(`node ${id} is not running`);
    return p;
  }

  /** Kills every process of this cluster by PID (paused ones too) and removes the dir if it made it. */
  async stop(): Promise<void> {
    await Promise.all(
      [...this.#procs.values()].map(async (p) => {
        if (isAlive(p)) {
          p.child.kill('SIGKILL');
          await p.exited;
        }
      }),
    );
    this.#paused.clear();
    this.#forgetCleanup();
    await this.#clients.close();
    if (this.#ownsDir) {
      this.logs.freeze();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /** For exit handlers: SIGKILL by PID, without waiting. */
  #killAllNow(): void {
    for (const p of this.#procs.values()) if (isAlive(p)) p.child.kill('SIGKILL');
  }

  // --- HTTP ---------------------------------------------------------------------------------

  /** One request to one node's API; throws on a network error or after `timeoutMs`. */
  async request(method: string, path: string, o: RequestOptions = {}): Promise<Reply> {
    const id = o.node ?? this.running()[0];
    if (id === undefined) throw new Error('no running node to ask');
    return this.#clients.request(id, `${this.spec(id).api}${path}`, method, o);
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

  /** The groups of every running node that answers within `timeoutMs`, by node. */
  async statuses(timeoutMs = 1_000): Promise<Map<string, GroupStatus[]>> {
    const out = new Map<string, GroupStatus[]>();
    await Promise.all(
      this.running().map(async (id) => {
        try {
          out.set(id, (await this.status(id, timeoutMs)).groups);
        } catch {
          // A node that does not answer has no say.
        }
      }),
    );
    return out;
  }

  // --- Cluster state ------------------------------------------------------------------------

  /** The shard's leader with the highest term among running nodes that answer, or null. */
  async leaderOf(shard: number): Promise<string | null> {
    return highestTermLeader(await this.statuses(), shard);
  }

  /** The leader of each shard that a majority of the shard's members acknowledge, or null. */
  async leaders(): Promise<(string | null)[]> {
    const reports = await this.statuses();
    return Array.from({ length: this.shards }, (_, shard) =>
      majorityLeader(reports, shard, this.membersOf(shard).length),
    );
  }

  /** Waits until every shard has a leader that a majority of its members acknowledge; resolves with them. */
  async waitLeaders(o: WaitOptions = {}): Promise<string[]> {
    return this.waitFor(
      async () => {
        const leaders = await this.leaders();
        const missing = leaders.flatMap((l, shard) => (l === null ? [shard] : []));
        if (missing.length > 0) throw new Error(`no leader of shard(s) ${missing.join(', ')}`);
        return leaders as string[];
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'a leader of every shard', ...o },
    );
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

  /**
   * The members of `shard` in the cluster file's placement order; the first is its preferred
   * leader (until the rebalancer moves replicas or preferences).
   */
  membersOf(shard: number): string[] {
    return shardMembers(this.#fileIds, shard, Math.min(this.replicas, this.#fileIds.length));
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
    return this.logs.text(id);
  }

  /** The node's JSON lines whose `msg` is `msg`. */
  logEvents(id: string, msg: string): Record<string, unknown>[] {
    return this.logs.events(id, msg);
  }

  logTail(id: string, lines = 30): string {
    return this.logs.tail(id, lines);
  }

  printLogTails(lines = 30): void {
    for (const id of this.ids) {
      console.log(
        `[${this.name}] --- last ${lines} log lines of ${id} (${this.logPath(id)}) ---\n${this.logTail(id, lines)}`,
      );
    }
  }
}
