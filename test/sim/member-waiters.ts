/**
 * The client calls one simulated member is answering: writes waiting for their entry to be
 * applied at the index and term propose() returned, and ReadIndex reads waiting for their read
 * state and then for the state machine to reach it. It resolves each call exactly once.
 */
import type { Entry, Index, NodeId, ReadState, Term } from '../../src/raft/types.js';
import { decodeWrite, type RegisterMachine } from './sim-state-machine.js';

/** A write a member proposed and a client waits on. */
export interface PendingWrite {
  readonly id: number;
  readonly key: string;
  readonly value: string;
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

/** Where answers go. */
export interface WaiterHooks {
  onWriteDone(write: PendingWrite, acked: boolean): void;
  onReadDone(read: PendingRead, answer: ReadAnswer | null): void;
}

/** The calls one member answers; the member feeds it what it applies, installs and learns. */
export class MemberWaiters {
  readonly #id: NodeId;
  readonly #hooks: WaiterHooks;
  // Keyed by the index propose() returned.
  readonly #writes = new Map<Index, PendingWrite>();
  // Reads waiting for their ReadState, by ctx.
  readonly #readsUnconfirmed = new Map<string, PendingRead>();
  // Reads with a read index, waiting for applied >= index.
  #readsConfirmed: { read: PendingRead; index: Index }[] = [];

  constructor(id: NodeId, hooks: WaiterHooks) {
    this.#id = id;
    this.#hooks = hooks;
  }

  /** A write propose() accepted at (index, term); an older write at that index was overwritten. */
  awaitWrite(write: PendingWrite): void {
    const older = this.#writes.get(write.index);
    if (older !== undefined) this.#finishWrite(older, false);
    this.#writes.set(write.index, write);
  }

  /** A read readIndex() accepted. */
  awaitRead(read: PendingRead): void {
    this.#readsUnconfirmed.set(read.ctx, read);
  }

  /** The member applied `entry`: the write proposed there is acknowledged, or lost if another entry won. */
  onApply(entry: Entry): void {
    const write = this.#writes.get(entry.index);
    if (write === undefined) return;
    if (entry.term !== write.term) {
      this.#finishWrite(write, false);
      return;
    }
    const id = entry.kind === 'command' ? decodeWrite(entry.data).id : null;
    if (id !== write.id) {
      throw new Error(
        `proposal identity: ${this.#id} proposed write ${write.id} at ${write.index}/${write.term} ` +
          `but applied ${id ?? 'a noop'} there`,
      );
    }
    this.#finishWrite(write, true);
  }

  /** A snapshot up to `index` replaced the state machine: writes at or below it have unknown outcomes. */
  onInstall(index: Index): void {
    for (const write of [...this.#writes.values()]) if (write.index <= index) this.#finishWrite(write, false);
  }

  /** Read states arrived: those reads may be served once applied reaches their index. */
  confirmReads(readStates: readonly ReadState[]): void {
    for (const rs of readStates) {
      const read = this.#readsUnconfirmed.get(rs.ctx);
      if (read === undefined) continue;
      this.#readsUnconfirmed.delete(rs.ctx);
      if (!read.done) this.#readsConfirmed.push({ read, index: rs.index });
    }
  }

  /** Role, leader or term changed: reads still without a read state will never get one. */
  failUnconfirmedReads(): void {
    for (const read of this.#readsUnconfirmed.values()) this.#finishRead(read, null);
    this.#readsUnconfirmed.clear();
  }

  /** Serves every confirmed read whose index the machine has applied, from the machine as it stands. */
  serveReads(machine: RegisterMachine): void {
    if (this.#readsConfirmed.length === 0) return;
    const applied = machine.applied;
    const waiting: { read: PendingRead; index: Index }[] = [];
    for (const item of this.#readsConfirmed) {
      if (item.read.done) continue;
      if (item.index > applied) {
        waiting.push(item);
        continue;
      }
      const value = machine.read(item.read.key)?.value ?? null;
      this.#finishRead(item.read, { readIndex: item.index, applied, value });
    }
    this.#readsConfirmed = waiting;
  }

  /** The member crashed: every call it was answering fails. */
  failAll(): void {
    for (const write of [...this.#writes.values()]) this.#finishWrite(write, false);
    this.failUnconfirmedReads();
    for (const { read } of this.#readsConfirmed) this.#finishRead(read, null);
    this.#readsConfirmed = [];
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
}
