/**
 * A whole simulated cluster run from one seed, in the style of TigerBeetle's VOPR: a safety phase
 * with faults and membership changes (`run`), then `heal` and a liveness phase without either
 * (`runUntil`), with every checker run after every step. The same seed replays the same run event
 * for event; the optional trace shows it. It owns the clock (ticks), the members (founders and
 * those that join later) and the order of everything within a tick.
 */
import { isMember } from '../../src/raft/conf.js';
import { silentLogger } from '../../src/raft/logger.js';
import { createRng } from '../../src/raft/rng.js';
import type { ConfState, Index, NodeId } from '../../src/raft/types.js';
import { type ClientCounts, ClientHistory } from './client-history.js';
import { CommitQuorumCheck } from './commit-quorum-check.js';
import { DisruptionCheck } from './disruption-check.js';
import { ElectionTimer } from './election-timer.js';
import { SafetyChecker } from './safety-checker.js';
import { SafetyViolation } from './safety-violation.js';
import { SimClients } from './sim-clients.js';
import { describeConf } from './sim-conf.js';
import { FaultInjector } from './sim-faults.js';
import { type MemberHooks, SimMember } from './sim-member.js';
import { type MembershipCounts, MembershipSchedule } from './sim-membership.js';
import { type NetworkCounts, SimNetwork } from './sim-network.js';
import { PeerGoneNotices, type ResetCounts } from './sim-peer-gone.js';
import { forkSeed, SimRandom } from './sim-random.js';
import { describeParams, type SwarmParams, swarmParams } from './swarm-params.js';
import { describeMessage, traceLogger } from './trace-format.js';

/** Tracing of a run; without a trace sink a run formats nothing. */
export interface SimulationOptions {
  /** Receives every event of the run as one line, prefixed with its tick. */
  readonly trace?: (line: string) => void;
  /** Also trace every message's fate and the core's own log records (needs `trace`). */
  readonly traceMessages?: boolean;
}

/** What a run did, for summaries. */
export interface SimStats {
  readonly seed: number;
  /** What the seed chose. */
  readonly params: SwarmParams;
  /** Founding members. */
  readonly memberCount: number;
  /** Members that ever existed, founders and joiners. */
  readonly membersCreated: number;
  readonly ticks: number;
  readonly safetyTicks: number;
  readonly livenessTicks: number;
  /** Each counted election, from losing a leader to a new one known to a majority. */
  readonly electionDurationsTicks: readonly number[];
  readonly network: NetworkCounts;
  readonly clients: ClientCounts;
  /** Faults drawn, and the peer-gone notices members heard (after crashes, and spurious ones). */
  readonly faults: FaultInjector['counts'] & ResetCounts;
  /** Leaders deposed while running with no fault near (see DisruptionCheck). */
  readonly calmLeaderChanges: number;
  readonly membership: MembershipCounts;
  /** Commit advances of leaders checked against the voters' stores. */
  readonly commitChecks: number;
  readonly snapshotsTaken: number;
  readonly snapshotsInstalled: number;
  readonly appliedMax: number;
}

/** A run failed: a checker fired, the core threw, or the cluster did not converge after heal. */
export class SimulationFailure extends Error {
  override readonly name = 'SimulationFailure';
  constructor(
    readonly seed: number,
    readonly tick: number,
    readonly what: string,
    options?: { readonly cause?: unknown },
  ) {
    super(
      `seed=${seed}: ${what} (tick ${tick}; replay: npm run sim -- --seeds 1 --from ${seed} --trace)`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
  }
}

/** Random streams of one run; see forkSeed. */
const stream = { faults: 1, network: 2, clients: 3, membership: 4, resets: 5, members: 100 } as const;

/** How long a simulated tick lasts on the members' clocks (the cluster file's default tickMs). */
export const simTickMs = 40;

/** One simulated cluster run; see the module comment for the phases. */
export class Simulation {
  readonly seed: number;
  readonly params: SwarmParams;
  /** Every member ever created, in creation order; gone ones stay (their stores are evidence). */
  readonly #members: SimMember[] = [];
  readonly #byId = new Map<NodeId, SimMember>();
  readonly #network: SimNetwork;
  readonly #faults: FaultInjector;
  readonly #resets: PeerGoneNotices;
  readonly #disruption: DisruptionCheck;
  readonly #membership: MembershipSchedule;
  readonly #clients: SimClients;
  readonly #safety = new SafetyChecker();
  readonly #commitQuorum = new CommitQuorumCheck(this.#byId);
  readonly #history = new ClientHistory();
  readonly #elections = new ElectionTimer();
  readonly #trace: ((line: string) => void) | null;
  #now = 0;
  #safetyTicks = 0;
  #livenessTicks = 0;
  #healed = false;
  /** What a checker threw while a client heard its answer; the step it happened in fails. */
  #deferred: { err: unknown } | null = null;
  readonly #memberHooks: MemberHooks;
  readonly #traceMessages: boolean;

  /** The run seed `seed` chooses (cluster size, fault rates, load and snapshot threshold), started. */
  static async swarm(seed: number, options: SimulationOptions = {}): Promise<Simulation> {
    const sim = new Simulation(seed, swarmParams(seed), options);
    await sim.start();
    return sim;
  }

  /** A run not yet started: start() brings its members up. */
  constructor(seed: number, params: SwarmParams, options: SimulationOptions = {}) {
    this.seed = seed;
    this.params = params;
    const sink = options.trace;
    this.#trace = sink === undefined ? null : (line) => sink(`t=${this.#now} ${line}`);
    const trace = this.#trace;
    const traceMessages = trace !== null && options.traceMessages === true;
    this.#network = new SimNetwork(
      new SimRandom(forkSeed(seed, stream.network)),
      params.network,
      traceMessages ? (event, msg) => trace(`net ${event} ${describeMessage(msg)}`) : null,
    );
    this.#traceMessages = traceMessages;
    this.#memberHooks = this.#hooks();
    const ids = Array.from({ length: params.memberCount }, (_, i) => `n${i + 1}`);
    for (const id of ids) this.#addMember(id, { voters: ids, learners: [] }, 0);
    const active = () => this.#active();
    this.#faults = new FaultInjector({
      random: new SimRandom(forkSeed(seed, stream.faults)),
      params,
      members: active,
      network: this.#network,
      elections: this.#elections,
      trace,
    });
    this.#disruption = new DisruptionCheck({
      electionTicks: params.tuning.electionTicks,
      flightTicksMax: this.#network.flightTicksMax,
    });
    this.#resets = new PeerGoneNotices({
      random: new SimRandom(forkSeed(seed, stream.resets)),
      params,
      members: active,
      network: this.#network,
      spurious: (to, peer, now) => this.#disruption.spuriousReset(to, peer, now),
      trace,
    });
    this.#membership = new MembershipSchedule({
      random: new SimRandom(forkSeed(seed, stream.membership)),
      params,
      members: active,
      create: async (id, initial, joinedAfter) => {
        const member = this.#addMember(id, initial, joinedAfter);
        trace?.(`${id} created to join: first configuration ${describeConf(initial)}`);
        await member.start();
        return member;
      },
      committedTerm: (index) => this.#safety.committedTerm(index),
      beforeConfChange: (leader) => this.#commitQuorum.afterCore(leader),
      trace,
    });
    this.#clients = new SimClients({
      random: new SimRandom(forkSeed(seed, stream.clients)),
      params,
      members: this.#byId,
      history: this.#history,
      trace,
      fail: (err) => {
        this.#deferred ??= { err };
      },
      tickMs: simTickMs,
    });
    trace?.(`seed=${seed} ${describeParams(params)}`);
  }

  /** A new member (not started): `initial` is its first configuration, history ends at `joinedAfter`. */
  #addMember(id: NodeId, initial: ConfState, joinedAfter: Index): SimMember {
    if (this.#byId.has(id)) throw new Error(`identity ${id} used twice`);
    const ordinal = this.#members.length;
    const trace = this.#trace;
    const member = new SimMember({
      config: { ...this.params.tuning, id, voters: initial.voters, learners: initial.learners },
      joinedAfter,
      snapshotEntries: this.params.snapshotEntries,
      hooks: this.#memberHooks,
      rngFor: (incarnation) => createRng(forkSeed(this.seed, stream.members + ordinal * 1000 + incarnation)),
      nowMs: () => this.#now * simTickMs,
      log: this.#traceMessages && trace !== null ? traceLogger(id, trace) : silentLogger,
    });
    this.#members.push(member);
    this.#byId.set(id, member);
    return member;
  }

  /** Members not gone for good, in creation order. */
  #active(): SimMember[] {
    return this.#members.filter((m) => !m.isGone);
  }

  /** Brings every member up from its (empty) storage. */
  async start(): Promise<void> {
    await this.#guard(async () => {
      for (const member of this.#members) await member.start();
    });
  }

  get now(): number {
    return this.#now;
  }

  /** Every member ever created, gone ones included. */
  get members(): readonly SimMember[] {
    return this.#members;
  }

  /** For scripted runs: nothing crosses between `a` and `b`, either way, until `reconnect`. */
  disconnect(a: NodeId, b: NodeId): void {
    this.#network.partition([[a], [b]]);
  }

  /** For scripted runs: every link carries messages again. */
  reconnect(): void {
    this.#network.heal();
  }

  /** The safety phase: `ticks` steps with faults and client load. */
  async run({ ticks }: { ticks: number }): Promise<void> {
    if (this.#healed) throw new Error('run() after heal(): the safety phase is over');
    for (let i = 0; i < ticks; i++) {
      await this.#step(true);
      this.#safetyTicks++;
    }
  }

  /** Ends the faults: restarts and resumes every member, heals partitions, calms the network. */
  async heal(): Promise<void> {
    this.#healed = true;
    this.#trace?.('heal');
    this.#network.heal();
    const { delayTicksMin, delayTicksMax } = this.params.network;
    this.#network.setFaults({
      dropPermille: 0,
      duplicatePermille: 0,
      reorderPermille: 0,
      delayTicksMin,
      delayTicksMax,
    });
    await this.#guard(async () => {
      for (const member of this.#active()) {
        member.cancelCrash();
        if (!member.isUp) await member.start();
        member.resume();
      }
    });
  }

  /**
   * The liveness phase: steps without faults or new requests until `pred` holds; throws a
   * SimulationFailure naming liveness if it does not within `ticksMax`. Returns the ticks taken.
   */
  async runUntil(pred: () => boolean, { ticksMax }: { ticksMax: number }): Promise<number> {
    for (let ticks = 0; ticks <= ticksMax; ticks++) {
      if (pred()) return ticks;
      if (ticks === ticksMax) break;
      await this.#step(false);
      this.#livenessTicks++;
    }
    throw new SimulationFailure(
      this.seed,
      this.#now,
      `liveness: not converged ${ticksMax} ticks after heal: ${this.describe()}`,
    );
  }

  /**
   * Converged: every member of the leader's configuration (but identities whose disk was lost)
   * is up and follows the leader, whose log is entirely committed (its no-op included) and
   * applied by each of them. Members outside it (removed ones that never heard so) do not count.
   */
  converged(): boolean {
    const leader = this.#leader();
    if (leader === null) return false;
    const { id, term, commit, lastIndex } = leader.node.status();
    if (commit !== lastIndex) return false;
    return this.#groupMembers(leader).every((m) => {
      if (!m.isRunning) return false;
      const status = m.node.status();
      return status.leader === id && status.term === term && m.machine.applied === lastIndex;
    });
  }

  /** The running leader of the highest term, or null. */
  #leader(): SimMember | null {
    let best: SimMember | null = null;
    for (const m of this.#members) {
      if (!m.isRunning) continue;
      const s = m.node.status();
      if (s.role === 'leader' && (best === null || s.term > best.node.status().term)) best = m;
    }
    return best;
  }

  /** The members of `leader`'s configuration that are not gone for good, the leader included. */
  #groupMembers(leader: SimMember): SimMember[] {
    const conf = leader.node.conf();
    return this.#members.filter((m) => !m.isGone && isMember(conf, m.id));
  }

  /** The final checks, once converged: every check of a step, and no acknowledged write lost. */
  async check(): Promise<void> {
    await this.#guard(async () => {
      const leader = this.#leader();
      if (leader === null || !this.converged()) {
        throw new Error(`liveness: check() before convergence: ${this.describe()}`);
      }
      this.#safety.checkStep(this.#active());
      this.#history.checkNoneLost(this.#groupMembers(leader), this.#safety);
    });
  }

  /** One line per member: role, term, leader, commit, applied, log, configuration, and up/paused/gone state. */
  describe(): string {
    return this.#members
      .map((m) => {
        if (m.fate !== null) return `${m.id} ${m.fate}`;
        const s = m.status();
        if (s === null) return `${m.id} down`;
        const state = m.isPaused ? ' paused' : '';
        return (
          `${m.id} ${s.role} t${s.term} leader=${s.leader} commit=${s.commit} applied=${m.machine.applied} ` +
          `log=${s.snapshotIndex}..${s.lastIndex} conf=${describeConf(s.conf)}@${s.confIndex}${state}`
        );
      })
      .join('; ');
  }

  stats(): SimStats {
    return {
      seed: this.seed,
      params: this.params,
      memberCount: this.params.memberCount,
      membersCreated: this.#members.length,
      ticks: this.#now,
      safetyTicks: this.#safetyTicks,
      livenessTicks: this.#livenessTicks,
      electionDurationsTicks: this.#elections.durationsTicks,
      network: this.#network.counts,
      clients: this.#history.counts,
      faults: { ...this.#faults.counts, ...this.#resets.counts },
      calmLeaderChanges: this.#disruption.calmLeaderChanges,
      membership: this.#membership.counts,
      commitChecks: this.#commitQuorum.checks,
      snapshotsTaken: this.#members.reduce((n, m) => n + m.store.counts.compactions, 0),
      snapshotsInstalled: this.#members.reduce((n, m) => n + m.counts.snapshotsInstalled, 0),
      appliedMax: this.#safety.appliedMax,
    };
  }

  /**
   * One tick: faults and membership changes (safety phase only), every member ticks, due
   * messages and peer-gone notices arrive (spurious resets in the safety phase only), clients
   * act, every member runs its drive loop until idle (in member order, one after the other),
   * then every checker runs.
   */
  async #step(faulty: boolean): Promise<void> {
    await this.#guard(async () => {
      const now = ++this.#now;
      if (faulty) {
        await this.#faults.act(now);
        await this.#membership.act(now);
      }
      for (const member of this.#members) member.tick();
      for (const msg of this.#network.deliverDue(now)) {
        const member = this.#byId.get(msg.to);
        if (member === undefined) throw new Error(`ready contract: message to unknown member ${msg.to}`);
        if (!member.isUp) this.#trace?.(`lost ${describeMessage(msg)}: ${msg.to} is down`);
        member.deliver(msg);
      }
      this.#resets.deliverDue(now, faulty);
      this.#clients.act(now, faulty);
      for (const member of this.#members) await member.runTurns(now);
      if (this.#deferred !== null) throw this.#deferred.err;
      this.#safety.checkStep(this.#active());
      this.#elections.observe(now, this.#members);
      this.#disruption.observe(now, this.#members, this.#unrest(), this.#network.isPartitioned());
    });
  }

  /**
   * What may change leaders besides a spurious reset: who runs, and the crashes, pauses,
   * transfers and membership changes so far (a crash and restart, or a pause and resume, may
   * fall within one tick).
   */
  #unrest(): string {
    const { addLearner, promote, remove } = this.#membership.counts.proposed;
    const { pauses, transfers } = this.#faults.counts;
    const running = this.#members.map((m) => (m.isRunning ? 'r' : m.isGone ? 'g' : 'd')).join('');
    const crashes = this.#members.reduce((n, m) => n + m.counts.crashes, 0);
    return `${running} ${crashes} ${pauses} ${transfers} ${addLearner + promote + remove}`;
  }

  /** Runs `fn`, turning anything it throws into a SimulationFailure that names the seed. */
  async #guard(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (err instanceof SimulationFailure) throw err;
      const what =
        err instanceof SafetyViolation
          ? err.message
          : err instanceof Error
            ? err.name === 'Error'
              ? err.message
              : `${err.name}: ${err.message}`
            : String(err);
      this.#trace?.(`FAILED ${what}`);
      throw new SimulationFailure(this.seed, this.#now, what, { cause: err });
    }
  }

  #hooks(): MemberHooks {
    const sim = this;
    return {
      send: (msg) => sim.#network.send(msg, sim.#now),
      knows: (id) => sim.#byId.has(id),
      afterCore: (member) => sim.#commitQuorum.afterCore(member),
      onHardState: (member, hs) => sim.#safety.onHardState(member, hs),
      onCrash: (member, status) => {
        if (status.role === 'leader') sim.#elections.leaderLost(member.id, status.term, sim.#now);
        sim.#resets.crashed(member.id, sim.#now);
      },
      onLeader: (member, term) => sim.#safety.onLeader(member, term),
      onApply: (member, machine, entry) => sim.#safety.onApply(member, machine, entry),
      onRestore: (member, machine) => sim.#safety.onRestore(member, machine),
      get trace() {
        return sim.#trace;
      },
    };
  }
}
