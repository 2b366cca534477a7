/**
 * One simulated member, run by the real shell of src/node: a Group (its RaftNode, a
 * RegisterMachine and the Waiters) driven by a DriveLoop over a SimStore, a SimClock and the
 * simulated network. This file only owns what a machine and its operator do to a node: start it
 * from storage, crash it (at a point of the drive loop's turn the simulation drew, or idle),
 * pause and resume it, wipe its disk, and feed it ticks and messages; and, as a node does, it
 * deletes its replica once it applied a configuration that removed it. It judges nothing itself.
 */
import { DriveLoop } from '../../src/node/drive-loop.js';
import { Group } from '../../src/node/group.js';
import type { StateMachineFactory } from '../../src/node/state-machine.js';
import { isMember } from '../../src/raft/conf.js';
import type { Logger } from '../../src/raft/logger.js';
import type { RaftNode } from '../../src/raft/raft-node.js';
import type { Rng } from '../../src/raft/rng.js';
import type {
  ConfState,
  Entry,
  HardState,
  Index,
  Message,
  NodeId,
  RaftConfig,
  RaftStatus,
  Term,
} from '../../src/raft/types.js';
import type { GroupWrite } from '../../src/storage/raft-store.js';
import type { GroupMessage } from '../../src/transport/wire.js';
import { SimClock } from './sim-clock.js';
import { type MachineHooks, RegisterMachine } from './sim-state-machine.js';
import { SimStore, simGroup } from './sim-store.js';

/**
 * Where in the drive loop's turn a crash strikes: just before a synced write (nothing of it
 * stored), just after it (stored, but the messages waiting for it not sent), or just before
 * committed entries or a snapshot are applied; `idle` means between turns.
 */
export type CrashPoint = 'beforePersist' | 'beforeSend' | 'beforeApply' | 'idle';

/** Every crash point, for drawing one. */
export const crashPoints: readonly CrashPoint[] = ['beforePersist', 'beforeSend', 'beforeApply', 'idle'];

/**
 * Why a member is gone for good: it applied its own removal and deleted its replica, its disk
 * was wiped (the identity is retired; a replacement joins under a new one), or it was created
 * for an addition the leader refused or lost before it heard from any leader.
 */
export type MemberFate = 'removed' | 'wiped' | 'dropped';

/** How a member reports to the simulation. */
export interface MemberHooks {
  send(msg: Message): void;
  /** Whether `id` names a member the simulation created (messages go only to those). */
  knows(id: NodeId): boolean;
  /** After every call into the core (a tick, a message, a turn of the drive loop). */
  afterCore(member: SimMember): void;
  /** A hard state is about to be written (a crash may still lose it, but the core knew it). */
  onHardState(member: SimMember, hs: HardState): void;
  /** The member is about to crash, in this state. */
  onCrash(member: SimMember, status: RaftStatus): void;
  /** The member became leader of `term` on a vote reply (it may step down before its next turn). */
  onLeader(member: SimMember, term: Term): void;
  onApply(member: SimMember, machine: RegisterMachine, entry: Entry): void;
  /** The member's machine was replaced by a snapshot's (installed from a leader, or loaded at start). */
  onRestore(member: SimMember, machine: RegisterMachine): void;
  /** Null unless the run is traced. */
  readonly trace: ((line: string) => void) | null;
}

/** The most messages a paused member holds; later ones are lost. */
const inboxMax = 4096;

/** Thrown inside the drive loop's turn where an arranged crash strikes; the loop's onFatal ends the member. */
class SimCrash extends Error {
  override readonly name = 'SimCrash';
  constructor(readonly point: CrashPoint) {
    super(`crash ${point}`);
  }
}

/** A simulated node, with one group; the simulation drives it tick by tick. */
export class SimMember {
  readonly id: NodeId;
  readonly store = new SimStore();
  /** The configuration the member starts from until its store holds one (Group.load's `initial`). */
  readonly initialConf: ConfState;
  /** Configurations applied up to this index are history from before the member joined. */
  readonly #joinedAfter: Index;
  readonly #config: RaftConfig;
  readonly #snapshotEntries: number;
  readonly #hooks: MemberHooks;
  readonly #rngFor: (incarnation: number) => Rng;
  readonly #log: Logger;
  readonly #clock: SimClock;
  #group: Group<RegisterMachine> | null = null;
  #loop: DriveLoop | null = null;
  #incarnation = 0;
  #paused = false;
  #inbox: Message[] = [];
  #crashPoint: CrashPoint | null = null;
  #crashDeadlineTick = 0;
  /** True while the drive loop runs a turn the simulation started. */
  #inTurn = false;
  /** What made the drive loop fail, other than an arranged crash: a bug, reported by runTurns. */
  #fatal: Error | null = null;
  #fate: MemberFate | null = null;
  /** The groups the drive loop runs: the member's one group, none once its replica is deleted. */
  #groups: Group<RegisterMachine>[] = [];
  readonly counts = { crashes: 0, restarts: 0, snapshotsInstalled: 0 };

  constructor(opts: {
    /** Tuning and identity; its voters and learners are the member's first configuration. */
    config: RaftConfig;
    /** The leader's last index before it proposed adding this member; 0 for a founding member. */
    joinedAfter: Index;
    /** The group snapshots once this many entries were applied since its last snapshot. */
    snapshotEntries: number;
    hooks: MemberHooks;
    rngFor: (incarnation: number) => Rng;
    /** The simulation's time in ms. */
    nowMs: () => number;
    log: Logger;
  }) {
    this.id = opts.config.id;
    this.initialConf = { voters: opts.config.voters, learners: opts.config.learners ?? [] };
    this.#joinedAfter = opts.joinedAfter;
    this.#config = opts.config;
    this.#snapshotEntries = opts.snapshotEntries;
    this.#hooks = opts.hooks;
    this.#rngFor = opts.rngFor;
    this.#log = opts.log;
    this.#clock = new SimClock(opts.nowMs);
  }

  get isUp(): boolean {
    return this.#group !== null;
  }

  get isPaused(): boolean {
    return this.#paused;
  }

  /** A crash is arranged for this member's next turn. */
  get isCrashPending(): boolean {
    return this.#crashPoint !== null;
  }

  /** Why the member is gone for good, or null while it may still run. */
  get fate(): MemberFate | null {
    return this.#fate;
  }

  get isGone(): boolean {
    return this.#fate !== null;
  }

  /** Up and not paused: it ticks, steps and runs turns. */
  get isRunning(): boolean {
    return this.#group !== null && !this.#paused;
  }

  /** The group; only while up. */
  get group(): Group<RegisterMachine> {
    if (this.#group === null) throw new Error(`${this.id} is down`);
    return this.#group;
  }

  /** The core; only while up. */
  get node(): RaftNode {
    return this.group.raft;
  }

  /** The state machine; only while up. */
  get machine(): RegisterMachine {
    return this.group.sm;
  }

  status(): RaftStatus | null {
    return this.#group?.raft.status() ?? null;
  }

  /** (Re)starts from storage, as a node's Group.load does: the machine from the stored snapshot, the rest replayed. */
  async start(): Promise<void> {
    if (this.#group !== null) throw new Error(`${this.id} is already up`);
    if (this.#fate !== null) throw new Error(`${this.id} is gone (${this.#fate})`);
    const incarnation = this.#incarnation++;
    const { id, voters, learners, electionTicks, heartbeatTicks, ...raftTuning } = this.#config;
    this.store.attach(this.#storeHooks());
    const group = await Group.load(
      simGroup,
      id,
      { voters, learners: learners ?? [] },
      this.store,
      { electionTicks, heartbeatTicks, snapshotEntries: this.#snapshotEntries },
      this.#log,
      { machine: this.#machines(), clock: this.#clock, rng: this.#rngFor(incarnation), raftTuning },
    );
    this.#group = group;
    this.#groups = [group];
    this.#fatal = null;
    group.onConfApplied((conf, index) => {
      if (index > this.#joinedAfter && !isMember(conf, this.id)) this.#removed(group, index);
    });
    this.#loop = new DriveLoop({
      groups: this.#groups,
      store: this.store,
      transport: this.#transport(),
      clock: this.#clock,
      onFatal: (err) => this.#onFatal(err),
    });
    if (incarnation > 0) this.counts.restarts++;
  }

  /** The process dies now: volatile state, pending client calls and unsynced writes are gone. */
  crash(): void {
    const group = this.#group;
    if (group === null) return;
    this.#hooks.onCrash(this, group.raft.status());
    this.#stop();
    this.store.crash();
    this.counts.crashes++;
    group.waiters.failAll('the node crashed');
  }

  /**
   * The member is down and its disk was wiped: it comes back, if ever, with an empty store.
   * `retire` ends the identity too (the correct way back is a new identity); without it the
   * member may start again under its old id.
   */
  wipe(opts: { readonly retire: boolean }): void {
    if (this.#group !== null) throw new Error(`${this.id} must be down to be wiped`);
    if (opts.retire) {
      // The lost disk's last contents stay readable to the checkers: what this identity acknowledged.
      this.#fate = 'wiped';
      return;
    }
    this.store.wipe();
  }

  /** The addition this member was created for never reached it: it is dropped, as a node drops an unjoined replica. */
  drop(): void {
    if (this.#group !== null) {
      const status = this.#group.raft.status();
      if (status.lastIndex !== 0 || status.snapshotIndex !== 0 || status.leader !== null) {
        throw new Error(`${this.id} heard from a leader; only its removal can end it`);
      }
      this.#stop();
    }
    this.#fate = 'dropped';
  }

  /** Volatile state goes; the store is left as it is. */
  #stop(): void {
    this.#group = null;
    this.#groups.length = 0;
    this.#loop = null;
    this.#paused = false;
    this.#inbox = [];
    this.#crashPoint = null;
    this.#clock.clear();
    this.store.attach(null);
  }

  /**
   * As a node retires a replica (node.ts): this member applied a configuration without it, from
   * after it joined, so its group stops and its clients are failed (the node then deletes its
   * records; the store stays here for the checkers). Called inside the drive loop's turn, which
   * finishes the Ready in hand; the loop runs no turn for the group after it.
   */
  #removed(group: Group<RegisterMachine>, index: Index): void {
    if (this.#group !== group) return;
    this.#hooks.trace?.(`${this.id} applied its removal at ${index}; replica retired`);
    group.retire();
    this.#stop();
    this.#fate = 'removed';
    group.waiters.failAll(`${this.id} no longer hosts the group`);
  }

  /**
   * Arranges a crash at `point` of the first turn where that point comes (see CrashPoint); if
   * none comes by `deadlineTick`, it crashes idle then.
   */
  crashAt(point: CrashPoint, deadlineTick: number): void {
    this.#crashPoint = point;
    this.#crashDeadlineTick = deadlineTick;
  }

  /** Calls off an arranged crash. */
  cancelCrash(): void {
    this.#crashPoint = null;
  }

  /** Stops ticking and running turns; arriving messages wait in an inbox. */
  pause(): void {
    if (this.#group !== null) this.#paused = true;
  }

  /** Takes up again, first stepping every message that arrived while paused. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    const inbox = this.#inbox;
    this.#inbox = [];
    for (const msg of inbox) this.#step(msg);
  }

  /** One tick, as a node's ticker does it: the core ticks, late waiters expire, a turn is asked for. */
  tick(): void {
    if (!this.isRunning) return;
    const group = this.#group!;
    const wasLeader = group.raft.status().role === 'leader';
    group.raft.tick();
    group.waiters.expire(this.#clock.now());
    this.#loop!.schedule();
    // A member that is its configuration's only voter wins its election within the tick.
    const status = group.raft.status();
    if (!wasLeader && status.role === 'leader') this.#hooks.onLeader(this, status.term);
    this.#hooks.afterCore(this);
  }

  /** A message arrived; lost if the member is down. */
  deliver(msg: Message): void {
    if (this.#group === null) return;
    if (this.#paused) {
      if (this.#inbox.length < inboxMax) this.#inbox.push(msg);
      return;
    }
    this.#step(msg);
  }

  /**
   * Every connection to `peer` was refused or reset, as the node's peer presence reports it
   * (Node.peerGone): the group notes the loss and tells its core, if it follows `peer`. Heard
   * only while running; a member down or paused reads no socket. Returns whether it was heard.
   */
  peerGone(peer: NodeId): boolean {
    if (!this.isRunning) return false;
    const group = this.#group!;
    if (group.raft.status().leader === peer) {
      group.observer.leaderGoneNoted();
      group.raft.peerGone(peer);
      this.#loop!.schedule();
      this.#hooks.afterCore(this);
    }
    return true;
  }

  /** Asks the drive loop for a turn, as a node does after a proposal or a read. */
  schedule(): void {
    this.#loop?.schedule();
  }

  /**
   * Runs what the member's clock has due (the drive loop's turns) until the loop is idle; then,
   * if an arranged crash found no point to strike by its deadline, crashes idle. Throws what
   * made the drive loop fail, unless it was the arranged crash.
   */
  async runTurns(now: number): Promise<void> {
    if (!this.isRunning) return;
    const loop = this.#loop!;
    this.#inTurn = true;
    try {
      // Nothing due: the loop was idle at the end of the last step and still is.
      if (this.#clock.runDue()) await loop.idle();
    } finally {
      this.#inTurn = false;
    }
    if (this.#fatal !== null) throw this.#fatal;
    this.#hooks.afterCore(this);
    if (this.#crashPoint !== null && this.isUp && now >= this.#crashDeadlineTick) {
      this.#hooks.trace?.(`${this.id} crash idle (no turn reached ${this.#crashPoint})`);
      this.crash();
    }
  }

  /** Steps one message; a vote reply may make a leader, which the hooks hear of at once. */
  #step(msg: Message): void {
    const group = this.#group!;
    group.raft.step(msg);
    this.#loop!.schedule();
    if (msg.type === 'voteReply' || msg.type === 'timeoutNow') {
      const status = group.raft.status();
      if (status.role === 'leader') this.#hooks.onLeader(this, status.term);
    }
    this.#hooks.afterCore(this);
  }

  #onFatal(err: Error): void {
    if (err instanceof SimCrash) {
      this.#hooks.trace?.(`${this.id} crash ${err.point}`);
      this.crash();
      return;
    }
    this.#fatal = err;
  }

  /** Throws the arranged crash if it is for `point`. */
  #strike(point: CrashPoint): void {
    if (this.#inTurn && this.#crashPoint === point) throw new SimCrash(point);
  }

  #storeHooks() {
    const member = this;
    const durable = (writes: readonly GroupWrite[]) =>
      writes.some((w) => w.entries.length > 0 || w.hardState !== null || w.installSnapshot !== null);
    return {
      beforeWrite(writes: readonly GroupWrite[], sync: boolean) {
        for (const w of writes) if (w.hardState !== null) member.#hooks.onHardState(member, w.hardState);
        if (sync && durable(writes)) member.#strike('beforePersist');
      },
      afterWrite(writes: readonly GroupWrite[], sync: boolean) {
        if (sync && durable(writes)) member.#strike('beforeSend');
      },
    };
  }

  #machines(): StateMachineFactory<RegisterMachine> {
    const member = this;
    const hooks: MachineHooks = {
      beforeApply: () => member.#strike('beforeApply'),
      applied: (machine, entry) => member.#hooks.onApply(member, machine, entry),
    };
    return {
      empty: () => new RegisterMachine(hooks),
      restore(data) {
        hooks.beforeApply();
        const machine = RegisterMachine.restore(data, hooks);
        if (member.#inTurn) {
          member.counts.snapshotsInstalled++;
          member.#hooks.trace?.(`${member.id} install snapshot ${machine.applied}/${machine.appliedTerm}`);
        }
        member.#hooks.onRestore(member, machine);
        return machine;
      },
    };
  }

  /** The simulated network as the drive loop's transport; checks who sends what to whom. */
  #transport() {
    const { id } = this.#config;
    const hooks = this.#hooks;
    return {
      send(msgs: readonly GroupMessage[]) {
        for (const { group, msg } of msgs) {
          if (group !== simGroup || msg.from !== id || !hooks.knows(msg.to) || msg.to === id) {
            throw new Error(
              `ready contract: ${id} sends a message of group ${group} from ${msg.from} to ${msg.to}`,
            );
          }
          hooks.send(msg);
        }
      },
      async close() {},
    };
  }
}
