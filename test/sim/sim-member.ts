/**
 * One simulated member: a RaftNode, its SimStorage and a RegisterMachine, driven through the
 * Ready contract (persist, send, install/apply, serve reads, advance). It owns crashes at a chosen
 * point of that sequence, pauses, restarts from storage and snapshotting past a log-size threshold.
 * It reports what it applies to its hooks; it judges nothing itself beyond the Ready contract.
 */
import type { Logger } from '../../src/raft/logger.js';
import { RaftNode } from '../../src/raft/raft-node.js';
import type { Rng } from '../../src/raft/rng.js';
import type {
  Entry,
  Message,
  NodeId,
  RaftConfig,
  RaftStatus,
  Ready,
  Snapshot,
  Term,
} from '../../src/raft/types.js';
import { MemberWaiters, type PendingRead, type PendingWrite, type WaiterHooks } from './member-waiters.js';
import { RegisterMachine } from './sim-state-machine.js';
import { SimStorage } from './sim-storage.js';

/**
 * Where in the handling of a Ready a crash strikes: before persisting a Ready that must be
 * synced, after persisting it but before sending its messages, or before applying committed
 * entries or a snapshot; `idle` means between Readys.
 */
export type CrashPoint = 'beforePersist' | 'beforeSend' | 'beforeApply' | 'idle';

/** Every crash point, for drawing one. */
export const crashPoints: readonly CrashPoint[] = ['beforePersist', 'beforeSend', 'beforeApply', 'idle'];

/** How a member reports to the simulation. */
export interface MemberHooks extends WaiterHooks {
  send(msg: Message): void;
  /** A Ready was taken, before any of it is carried out (a crash may still lose it). */
  onReady(member: SimMember, rd: Ready): void;
  /** The member is about to crash, in this state. */
  onCrash(member: SimMember, status: RaftStatus): void;
  /** The member is leader of `term`, seen between Readys (it may step down before the next). */
  onLeader(member: SimMember, term: Term): void;
  onApply(member: SimMember, entry: Entry): void;
  onRestore(member: SimMember, snapshot: Snapshot): void;
  /** Null unless the run is traced. */
  readonly trace: ((line: string) => void) | null;
}

/** The most Readys a member handles in one turn; the rest wait for the next tick. */
const readyRoundsMax = 16;
/** The most messages a paused member holds; later ones are lost. */
const inboxMax = 4096;

/** The crash point, if `rd` is a Ready where a crash at it loses something. */
function strikes(point: CrashPoint | null, rd: Ready): CrashPoint | null {
  switch (point) {
    case 'beforePersist':
      return rd.mustSync ? point : null;
    case 'beforeSend':
      return rd.mustSync && rd.messages.length > 0 ? point : null;
    case 'beforeApply':
      return rd.committed.length > 0 || rd.snapshot !== null ? point : null;
    case 'idle':
    case null:
      return null;
  }
}

/** The messages a leader may send before its Ready is durable (thesis §10.2.1). */
function isReplication(msg: Message): boolean {
  return msg.type === 'append' || msg.type === 'heartbeat' || msg.type === 'snapshot';
}

/** One member of a simulated cluster; the simulation drives it tick by tick. */
export class SimMember {
  readonly id: NodeId;
  readonly storage = new SimStorage();
  readonly #config: RaftConfig;
  readonly #hooks: MemberHooks;
  readonly #rngFor: (incarnation: number) => Rng;
  readonly #log: Logger | undefined;
  readonly #snapshotEntriesMax: number;
  readonly #leaderSendsEarly: boolean;
  #node: RaftNode | null = null;
  #machine = new RegisterMachine();
  #incarnation = 0;
  #paused = false;
  #inbox: Message[] = [];
  #crashPoint: CrashPoint | null = null;
  #crashDeadlineTick = 0;
  readonly #waiters: MemberWaiters;
  readonly counts = { crashes: 0, restarts: 0, snapshotsTaken: 0, snapshotsInstalled: 0 };

  constructor(opts: {
    config: RaftConfig;
    hooks: MemberHooks;
    rngFor: (incarnation: number) => Rng;
    snapshotEntriesMax: number;
    /** A leader sends its appends, heartbeats and snapshots while it persists (thesis §10.2.1). */
    leaderSendsEarly: boolean;
    log?: Logger;
  }) {
    this.id = opts.config.id;
    this.#config = opts.config;
    this.#hooks = opts.hooks;
    this.#rngFor = opts.rngFor;
    this.#snapshotEntriesMax = opts.snapshotEntriesMax;
    this.#leaderSendsEarly = opts.leaderSendsEarly;
    this.#log = opts.log;
    this.#waiters = new MemberWaiters(this.id, opts.hooks);
  }

  get isUp(): boolean {
    return this.#node !== null;
  }

  get isPaused(): boolean {
    return this.#paused;
  }

  /** A crash is arranged for this member's next Ready handling. */
  get isCrashPending(): boolean {
    return this.#crashPoint !== null;
  }

  /** Up and not paused: it ticks, steps and handles Readys. */
  get isRunning(): boolean {
    return this.#node !== null && !this.#paused;
  }

  get machine(): RegisterMachine {
    return this.#machine;
  }

  /** The core; only while up. */
  get node(): RaftNode {
    if (this.#node === null) throw new Error(`${this.id} is down`);
    return this.#node;
  }

  status(): RaftStatus | null {
    return this.#node?.status() ?? null;
  }

  /** (Re)starts from storage: the state machine is the stored snapshot; the core re-delivers the rest. */
  start(): void {
    if (this.#node !== null) throw new Error(`${this.id} is already up`);
    const durable = this.storage.load();
    this.#machine = new RegisterMachine();
    if (durable.snapshot !== null) {
      this.#machine.restore(durable.snapshot.data);
      this.#hooks.onRestore(this, durable.snapshot);
    }
    const deps = { rng: this.#rngFor(this.#incarnation++), applied: this.#machine.applied };
    this.#node = new RaftNode(
      this.#config,
      durable,
      this.#log === undefined ? deps : { ...deps, log: this.#log },
    );
    if (this.#incarnation > 1) this.counts.restarts++;
  }

  /** The process dies now: volatile state, pending client calls and unsynced writes are gone. */
  crash(): void {
    if (this.#node === null) return;
    this.#hooks.onCrash(this, this.#node.status());
    this.#node = null;
    this.#paused = false;
    this.#inbox = [];
    this.#crashPoint = null;
    this.storage.crash();
    this.counts.crashes++;
    this.#waiters.failAll();
  }

  /**
   * Arranges a crash at `point` of the first Ready this member handles where that point means
   * something (see CrashPoint); if none comes by `deadlineTick`, it crashes idle then.
   */
  crashAt(point: CrashPoint, deadlineTick: number): void {
    this.#crashPoint = point;
    this.#crashDeadlineTick = deadlineTick;
  }

  /** Calls off an arranged crash. */
  cancelCrash(): void {
    this.#crashPoint = null;
  }

  /** Stops ticking and handling; arriving messages wait in an inbox. */
  pause(): void {
    if (this.#node !== null) this.#paused = true;
  }

  /** Takes up again, first stepping every message that arrived while paused. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    const inbox = this.#inbox;
    this.#inbox = [];
    for (const msg of inbox) this.#step(this.#node!, msg);
  }

  tick(): void {
    if (this.isRunning) this.#node!.tick();
  }

  /** A message arrived; lost if the member is down. */
  deliver(msg: Message): void {
    if (this.#node === null) return;
    if (this.#paused) {
      if (this.#inbox.length < inboxMax) this.#inbox.push(msg);
      return;
    }
    this.#step(this.#node, msg);
  }

  /** Steps one message; a vote reply may make a leader, which the hooks hear of at once. */
  #step(node: RaftNode, msg: Message): void {
    node.step(msg);
    if (msg.type !== 'voteReply') return;
    const status = node.status();
    if (status.role === 'leader') this.#hooks.onLeader(this, status.term);
  }

  /** Registers a write that propose() accepted at (index, term). */
  awaitWrite(write: PendingWrite): void {
    this.#waiters.awaitWrite(write);
  }

  /** Registers a read that readIndex() accepted. */
  awaitRead(read: PendingRead): void {
    this.#waiters.awaitRead(read);
  }

  /** Handles every Ready the core has, in the contract's order, crashing where arranged. */
  handleReadys(now: number): void {
    if (!this.isRunning) return;
    const node = this.#node!;
    for (let round = 0; round < readyRoundsMax && node.hasReady(); round++) {
      const rd = node.ready();
      if (!this.#handleReady(node, rd)) return;
    }
    if (this.#crashPoint !== null && now >= this.#crashDeadlineTick) {
      this.#hooks.trace?.(`${this.id} crash idle (no ready for ${this.#crashPoint})`);
      this.crash();
      return;
    }
    this.#maybeCompact(node);
  }

  /** Returns false when the member crashed part way. */
  #handleReady(node: RaftNode, rd: Ready): boolean {
    const crashPoint = strikes(this.#crashPoint, rd);
    const trace = this.#hooks.trace;
    this.#hooks.onReady(this, rd);
    const early = this.#leaderSendsEarly && node.status().role === 'leader';
    if (early) this.#send(rd.messages, true);
    if (crashPoint === 'beforePersist') return this.#crashWithin(rd, crashPoint);
    this.storage.persist(rd);
    if (crashPoint === 'beforeSend') return this.#crashWithin(rd, crashPoint);
    this.#send(rd.messages, early ? false : null);
    if (crashPoint === 'beforeApply') return this.#crashWithin(rd, crashPoint);
    if (rd.snapshot !== null) this.#install(rd.snapshot);
    for (const entry of rd.committed) {
      this.#machine.apply(entry);
      this.#hooks.onApply(this, entry);
      this.#waiters.onApply(entry);
    }
    this.#waiters.confirmReads(rd.readStates);
    if (rd.softState !== null) {
      trace?.(
        `${this.id} soft state ${rd.softState.role} leader=${rd.softState.leader} term=${rd.softState.term}`,
      );
      this.#waiters.failUnconfirmedReads();
    }
    this.#waiters.serveReads(this.#machine);
    node.advance(rd);
    return true;
  }

  /**
   * Sends `messages`: only the leader's appends, heartbeats and snapshots when `replication`
   * is true, all but those when false, every one when null.
   */
  #send(messages: readonly Message[], replication: boolean | null): void {
    for (const msg of messages) {
      if (replication !== null && replication !== isReplication(msg)) continue;
      if (msg.from !== this.id || !this.#config.voters.includes(msg.to) || msg.to === this.id) {
        throw new Error(`ready contract: ${this.id} sends a message from ${msg.from} to ${msg.to}`);
      }
      this.#hooks.send(msg);
    }
  }

  #crashWithin(rd: Ready, point: CrashPoint): boolean {
    const what = `${rd.entries.length} entries, ${rd.messages.length} messages, ${rd.committed.length} committed`;
    this.#hooks.trace?.(`${this.id} crash ${point} (ready: ${what})`);
    this.crash();
    return false;
  }

  #install(snapshot: Snapshot): void {
    const { index } = snapshot.meta;
    if (index < this.#machine.applied) {
      throw new Error(
        `ready contract: ${this.id} installs snapshot ${index} below applied ${this.#machine.applied}`,
      );
    }
    this.#machine.restore(snapshot.data);
    if (this.#machine.applied !== index) {
      throw new Error(`snapshot ${index} holds a state machine at applied ${this.#machine.applied}`);
    }
    this.counts.snapshotsInstalled++;
    this.#hooks.trace?.(`${this.id} install snapshot ${index}/${snapshot.meta.term}`);
    this.#hooks.onRestore(this, snapshot);
    this.#waiters.onInstall(index);
  }

  #maybeCompact(node: RaftNode): void {
    const applied = this.#machine.applied;
    const view = node.logView();
    if (applied - view.snapshot.index <= this.#snapshotEntriesMax) return;
    const data = this.#machine.serialise();
    const meta = { index: applied, term: this.#machine.appliedTerm, voters: this.#config.voters };
    node.compact(applied, data);
    this.storage.compact({ meta, data });
    this.counts.snapshotsTaken++;
    this.#hooks.trace?.(`${this.id} snapshot at ${applied}/${meta.term}`);
  }
}
