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
  Index,
  Message,
  NodeId,
  RaftConfig,
  RaftStatus,
  Ready,
  Snapshot,
  SoftState,
  Term,
} from '../../src/raft/types.js';
import { decodeWrite, RegisterMachine } from './sim-state-machine.js';
import { SimStorage } from './sim-storage.js';

/** Where in the handling of a Ready a crash strikes; `idle` means between Readys. */
export type CrashPoint = 'beforePersist' | 'beforeSend' | 'beforeApply' | 'idle';

export const crashPoints: readonly CrashPoint[] = ['beforePersist', 'beforeSend', 'beforeApply', 'idle'];

/** A write a member proposed and a client waits on. */
export interface PendingWrite {
  readonly id: number;
  readonly key: string;
  readonly index: Index;
  readonly term: Term;
  readonly member: NodeId;
  /** Set once the write is acknowledged, lost or given up on; nothing happens to it after that. */
  done: boolean;
}

/** A linearizable read a member accepted and a client waits on. */
export interface PendingRead {
  readonly ctx: string;
  readonly key: string;
  readonly member: NodeId;
  /** The highest log index of a write acknowledged before this read was issued. */
  readonly ackedIndexMax: Index;
  done: boolean;
}

/** The answer to a read, served once the member applied at least the read index. */
export interface ReadAnswer {
  readonly readIndex: Index;
  readonly applied: Index;
  readonly value: string | null;
}

/** How a member reports to the simulation. */
export interface MemberHooks {
  send(msg: Message): void;
  onApply(member: SimMember, entry: Entry): void;
  onRestore(member: SimMember, snapshot: Snapshot): void;
  onSoftState(member: SimMember, softState: SoftState): void;
  onWriteDone(write: PendingWrite, acked: boolean): void;
  onReadDone(read: PendingRead, answer: ReadAnswer | null): void;
  /** Null unless the run is traced. */
  readonly trace: ((line: string) => void) | null;
}

/** The most Readys a member handles in one turn; the rest wait for the next tick. */
const readyRoundsMax = 16;
/** The most messages a paused member holds; later ones are lost. */
const inboxMax = 4096;

export class SimMember {
  readonly id: NodeId;
  readonly storage = new SimStorage();
  readonly #config: RaftConfig;
  readonly #hooks: MemberHooks;
  readonly #rngFor: (incarnation: number) => Rng;
  readonly #log: Logger | undefined;
  readonly #snapshotEntriesMax: number;
  #node: RaftNode | null = null;
  #machine = new RegisterMachine();
  #incarnation = 0;
  #paused = false;
  #inbox: Message[] = [];
  #crashPoint: CrashPoint | null = null;
  // Invariant: every value has done === false; keyed by the index propose() returned.
  readonly #writes = new Map<Index, PendingWrite>();
  // Reads waiting for their ReadState, by ctx.
  readonly #readsUnconfirmed = new Map<string, PendingRead>();
  // Reads with a read index, waiting for applied >= index.
  #readsConfirmed: { read: PendingRead; index: Index }[] = [];
  readonly counts = { crashes: 0, restarts: 0, snapshotsTaken: 0, snapshotsInstalled: 0 };

  constructor(opts: {
    config: RaftConfig;
    hooks: MemberHooks;
    rngFor: (incarnation: number) => Rng;
    snapshotEntriesMax: number;
    log?: Logger;
  }) {
    this.id = opts.config.id;
    this.#config = opts.config;
    this.#hooks = opts.hooks;
    this.#rngFor = opts.rngFor;
    this.#snapshotEntriesMax = opts.snapshotEntriesMax;
    this.#log = opts.log;
  }

  get isUp(): boolean {
    return this.#node !== null;
  }

  get isPaused(): boolean {
    return this.#paused;
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
    this.#node = new RaftNode(this.#config, durable, this.#log === undefined ? deps : { ...deps, log: this.#log });
    if (this.#incarnation > 1) this.counts.restarts++;
  }

  /** The process dies now: volatile state, pending client calls and unsynced writes are gone. */
  crash(): void {
    if (this.#node === null) return;
    this.#node = null;
    this.#paused = false;
    this.#inbox = [];
    this.#crashPoint = null;
    this.storage.crash();
    this.counts.crashes++;
    this.#failWaiters();
  }

  /** Arranges a crash at `point` of the next Ready this member handles (or when idle, at once). */
  crashAt(point: CrashPoint): void {
    this.#crashPoint = point;
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
    for (const msg of inbox) this.#node!.step(msg);
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
    this.#node.step(msg);
  }

  /** Registers a write that propose() accepted at (index, term). */
  awaitWrite(write: PendingWrite): void {
    const older = this.#writes.get(write.index);
    if (older !== undefined) this.#finishWrite(older, false);
    this.#writes.set(write.index, write);
  }

  /** Registers a read that readIndex() accepted. */
  awaitRead(read: PendingRead): void {
    this.#readsUnconfirmed.set(read.ctx, read);
  }

  /** Handles every Ready the core has, in the contract's order, crashing where arranged. */
  handleReadys(): void {
    if (!this.isRunning) return;
    const node = this.#node!;
    for (let round = 0; round < readyRoundsMax && node.hasReady(); round++) {
      const rd = node.ready();
      if (!this.#handleReady(node, rd)) return;
    }
    if (this.#crashPoint !== null) {
      this.crash();
      return;
    }
    this.#maybeCompact(node);
  }

  /** Returns false when the member crashed part way. */
  #handleReady(node: RaftNode, rd: Ready): boolean {
    const crashPoint = this.#crashPoint;
    const trace = this.#hooks.trace;
    if (crashPoint === 'beforePersist') return this.#crashWithin(rd, crashPoint);
    this.storage.persist(rd);
    if (crashPoint === 'beforeSend') return this.#crashWithin(rd, crashPoint);
    for (const msg of rd.messages) {
      if (msg.from !== this.id || !this.#config.voters.includes(msg.to) || msg.to === this.id) {
        throw new Error(`ready contract: ${this.id} sends a message from ${msg.from} to ${msg.to}`);
      }
      this.#hooks.send(msg);
    }
    if (crashPoint === 'beforeApply') return this.#crashWithin(rd, crashPoint);
    if (rd.snapshot !== null) this.#install(rd.snapshot);
    for (const entry of rd.committed) this.#apply(entry);
    for (const rs of rd.readStates) {
      const read = this.#readsUnconfirmed.get(rs.ctx);
      if (read === undefined) continue;
      this.#readsUnconfirmed.delete(rs.ctx);
      if (!read.done) this.#readsConfirmed.push({ read, index: rs.index });
    }
    if (rd.softState !== null) {
      trace?.(`${this.id} soft state ${rd.softState.role} leader=${rd.softState.leader} term=${rd.softState.term}`);
      this.#hooks.onSoftState(this, rd.softState);
      for (const read of this.#readsUnconfirmed.values()) this.#finishRead(read, null);
      this.#readsUnconfirmed.clear();
    }
    this.#serveReads();
    node.advance(rd);
    return true;
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
      throw new Error(`ready contract: ${this.id} installs snapshot ${index} below applied ${this.#machine.applied}`);
    }
    this.#machine.restore(snapshot.data);
    if (this.#machine.applied !== index) {
      throw new Error(`snapshot ${index} holds a state machine at applied ${this.#machine.applied}`);
    }
    this.counts.snapshotsInstalled++;
    this.#hooks.trace?.(`${this.id} install snapshot ${index}/${snapshot.meta.term}`);
    this.#hooks.onRestore(this, snapshot);
    for (const write of [...this.#writes.values()]) if (write.index <= index) this.#finishWrite(write, false);
  }

  #apply(entry: Entry): void {
    this.#machine.apply(entry);
    this.#hooks.onApply(this, entry);
    const write = this.#writes.get(entry.index);
    if (write === undefined) return;
    if (entry.term !== write.term) {
      this.#finishWrite(write, false);
      return;
    }
    const id = entry.kind === 'command' ? decodeWrite(entry.data).id : null;
    if (id !== write.id) {
      throw new Error(
        `proposal identity: ${this.id} proposed write ${write.id} at ${write.index}/${write.term} but applied ${id ?? 'noop'} there`,
      );
    }
    this.#finishWrite(write, true);
  }

  #serveReads(): void {
    if (this.#readsConfirmed.length === 0) return;
    const applied = this.#machine.applied;
    const waiting: { read: PendingRead; index: Index }[] = [];
    for (const item of this.#readsConfirmed) {
      if (item.read.done) continue;
      if (item.index > applied) {
        waiting.push(item);
        continue;
      }
      const value = this.#machine.read(item.read.key)?.value ?? null;
      this.#finishRead(item.read, { readIndex: item.index, applied, value });
    }
    this.#readsConfirmed = waiting;
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

  #finishWrite(write: PendingWrite, acked: boolean): void {
    this.#writes.delete(write.index);
    if (write.done) return;
    write.done = true;
    this.#hooks.onWriteDone(write, acked);
  }

  #finishRead(read: PendingRead, answer: ReadAnswer | null): void {
    if (read.done) return;
    read.done = true;
    this.#hooks.onReadDone(read, answer);
  }

  #failWaiters(): void {
    for (const write of [...this.#writes.values()]) this.#finishWrite(write, false);
    for (const read of this.#readsUnconfirmed.values()) this.#finishRead(read, null);
    this.#readsUnconfirmed.clear();
    for (const { read } of this.#readsConfirmed) this.#finishRead(read, null);
    this.#readsConfirmed = [];
  }
}
