/**
 * The drive loop: one turn carries out the Ready of every group with work, in the order the
 * Ready type documents — persist all groups in one batch (group commit, one fsync), then send,
 * then apply — and then persists snapshots that came due. Turns never overlap; work arriving
 * during a turn is taken by the next one, so many client writes share one fsync.
 */

import type { Message, Ready } from '../raft/types.js';
import type { GroupWrite, RaftStore } from '../storage/raft-store.js';
import type { Transport } from '../transport/transport.js';
import type { GroupMessage } from '../transport/wire.js';
import type { Clock } from './clock.js';
import type { Group } from './group.js';
import type { StateMachine } from './state-machine.js';

export interface DriveLoopDeps {
  /** The groups to drive; read anew each turn (replicas come and go). */
  readonly groups: Iterable<Group<StateMachine<unknown>>>;
  readonly store: RaftStore;
  readonly transport: Transport;
  /** Runs the turns: schedule() asks it for a callback `soon`. */
  readonly clock: Clock;
  /**
   * A turn failed (a store write or fsync, or anything else it calls threw): the node must stop
   * acknowledging and exit; called once, after which the loop runs no more turns.
   */
  readonly onFatal: (err: Error) => void;
}

export class DriveLoop {
  readonly #d: DriveLoopDeps;
  #scheduled = false;
  #running: Promise<void> | null = null;
  #failed = false;
  /** Turns run and fsyncs done, for metrics. */
  turns = 0;
  syncs = 0;

  constructor(deps: DriveLoopDeps) {
    this.#d = deps;
  }

  /** Asks for a turn soon (the clock's `soon`); calls before it comes share it. */
  schedule(): void {
    if (this.#scheduled || this.#failed || this.#stopped) return;
    this.#scheduled = true;
    this.#d.clock.soon(() => {
      this.#scheduled = false;
      if (this.#stopped) return;
      if (this.#running === null) this.#running = this.#run().finally(() => (this.#running = null));
    });
  }

  #stopped = false;

  /**
   * No turn starts from now on, not even one already asked for; resolves once the running turn
   * (if any) is done, so the store may be closed.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.idle();
  }

  /** Resolves once no turn is running. */
  async idle(): Promise<void> {
    while (this.#running !== null) await this.#running;
  }

  async #run(): Promise<void> {
    try {
      while (!this.#failed && !this.#stopped && (await this.#turn()));
    } catch (err) {
      this.#failed = true;
      this.#d.onFatal(err as Error);
    }
  }

  /** One turn; false when no group had work. */
  async #turn(): Promise<boolean> {
    const work: { g: Group<StateMachine<unknown>>; rd: Ready }[] = [];
    for (const g of this.#d.groups) if (g.raft.hasReady()) work.push({ g, rd: g.raft.ready() });
    if (work.length === 0) return false;
    this.turns++;
    // Thesis §10.2.1: a leader's replication messages may leave while its own write is under
    // way (it counts itself in a quorum only once durable); everything else waits for the write.
    const early: GroupMessage[] = [];
    const late: GroupMessage[] = [];
    for (const { g, rd } of work) {
      for (const msg of rd.messages) (this.sendsBeforePersist(msg) ? early : late).push({ group: g.id, msg });
    }
    if (early.length > 0) this.#d.transport.send(early);
    // 1. persist: one batch for every group; fsync if any group must.
    const sync = work.some((w) => w.rd.mustSync);
    const writes = work.flatMap((w) => w.g.toWrite(w.rd) ?? []);
    if (writes.length > 0) {
      await this.#d.store.write(writes, { sync });
      if (sync) this.syncs++;
    }
    // 2. speak: only now may the rest of this turn's messages leave.
    if (late.length > 0) this.#d.transport.send(late);
    // 3. apply, serve reads, hand each Ready back.
    for (const { g, rd } of work) {
      g.applyReady(rd);
      g.raft.advance(rd);
    }
    // Snapshots that came due: persisted (synced) before the core may drop what they cover.
    const due = work.flatMap(({ g }) => {
      const w = g.snapshotIfDue();
      return w === null ? [] : [{ g, w }];
    });
    if (due.length > 0) await this.#persistSnapshots(due);
    return true;
  }

  /**
   * Whether `msg` may leave while this turn's write is under way: only a leader's replication
   * (append, heartbeat, snapshot), never a vote or an acknowledgement, which promise what the
   * write makes durable (thesis §10.2.1). Overridden only by the simulator's test of a broken
   * shell (test/sim/broken-variants.test.ts); nothing in src/ overrides it.
   */
  protected sendsBeforePersist(msg: Message): boolean {
    return msg.type === 'append' || msg.type === 'heartbeat' || msg.type === 'snapshot';
  }

  async #persistSnapshots(due: readonly { g: Group<StateMachine<unknown>>; w: GroupWrite }[]): Promise<void> {
    await this.#d.store.write(
      due.map((d) => d.w),
      { sync: true },
    );
    for (const { g, w } of due) if (w.compactSnapshot !== null) g.compacted(w.compactSnapshot);
  }
}
