/**
 * What one node sees of one shard group over time, for the people watching the cluster: every
 * leader change with the unavailability window it caused (from the last write applied before the
 * leader was lost to the first write of the new leader's term applied after), writes and reads per
 * second, and events for metrics and logs. Fed by the group after each Ready and by the node; it
 * only watches, and never changes the group.
 */

import type { Logger } from '../raft/logger.js';
import type { Entry, NodeId, Role, SoftState } from '../raft/types.js';

/**
 * `initial`: the first leader this node learned since it started (cluster or node start).
 * `failover`: the leader this node knew was lost (crash, partition, step-down).
 * `transfer`: leadership was handed over (TimeoutNow seen here shortly before).
 */
export type LeaderChangeKind = 'initial' | 'failover' | 'transfer';

/**
 * How the change began: `handover` (the leader handed over), `connection lost` (the leader's
 * connections were refused or reset: its process died, seen at once), `election timeout` (the
 * leader fell silent: paused, cut off, or gone without a reset). Null for `initial`.
 */
export type Detection = 'handover' | 'connection lost' | 'election timeout';

/**
 * `open`: writes went on before the change and none of the new term was applied yet;
 * `measured`: windowMs is known; `idle`: no writes shortly before or after, nothing to measure.
 */
export type WindowState = 'open' | 'measured' | 'idle';

/** One leader change of a group as one node observed it; times are that node's wall clock (ms). */
export interface LeaderChange {
  readonly shard: number;
  /** The node that observed it. */
  readonly observer: NodeId;
  /** The new leader's term. */
  readonly term: number;
  readonly from: NodeId | null;
  readonly to: NodeId;
  readonly kind: LeaderChangeKind;
  readonly detection: Detection | null;
  /** When this node stopped following `from`; null for `initial`. */
  readonly lostAtMs: number | null;
  /** When this node learned of `to`. */
  readonly electedAtMs: number;
  readonly lastWriteBeforeMs: number | null;
  readonly firstWriteAfterMs: number | null;
  readonly windowMs: number | null;
  readonly window: WindowState;
}

/** Where a group's events go besides the observer's own record (metrics). */
export interface GroupEventSink {
  leaderChanged(kind: LeaderChangeKind): void;
  windowMeasured(windowMs: number): void;
  snapshotTaken(bytes: number): void;
  snapshotInstalled(bytes: number): void;
}

/** The observer's part of a group's status. */
export interface GroupActivity {
  readonly writesPerSec: number;
  readonly readsPerSec: number;
  readonly writesApplied: number;
  readonly readsServed: number;
  readonly lastWriteAtMs: number | null;
  /** Oldest first, at most `leaderChangesKept`. */
  readonly leaderChanges: readonly LeaderChange[];
}

export const leaderChangesKept = 32;
/** Writes older than this before a leader was lost mean there was no traffic to interrupt. */
export const idleBeforeMs = 5_000;
/** No write of the new term within this long after the election: nothing to measure. */
export const idleAfterMs = 60_000;
/** A leader change this soon after TimeoutNow arrived here is a transfer. */
const transferNoteMs = 2_000;

interface Pending {
  from: NodeId | null;
  lostAtMs: number | null;
  lastWriteBeforeMs: number | null;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class GroupObserver {
  readonly #shard: number;
  readonly #self: NodeId;
  readonly #log: Logger;
  readonly #now: () => number;
  #sink: GroupEventSink | null = null;
  readonly #writes = new RateCounter();
  readonly #reads = new RateCounter();
  #writesApplied = 0;
  #readsServed = 0;
  #lastWriteMs: number | null = null;
  #leader: NodeId | null = null;
  #role: Role = 'follower';
  #everHadLeader = false;
  /** Since the known leader was lost, until a new one is known. */
  #pending: Pending | null = null;
  /** Changes whose window is still open, at most one per group in practice. */
  readonly #open: Mutable<LeaderChange>[] = [];
  readonly #changes: Mutable<LeaderChange>[] = [];
  #transferNotedMs: number | null = null;
  #goneNotedMs: number | null = null;

  constructor(shard: number, self: NodeId, log: Logger, now: () => number) {
    this.#shard = shard;
    this.#self = self;
    this.#log = log;
    this.#now = now;
  }

  /** Metrics receive events from now on. */
  attach(sink: GroupEventSink): void {
    this.#sink = sink;
  }

  /** After a Ready was applied: its role/leader change, then its committed entries. */
  observe(softState: SoftState | null, committed: readonly Entry[]): void {
    const now = this.#now();
    if (softState !== null) this.#onSoftState(softState, now);
    for (const e of committed) if (e.kind === 'command') this.#onWrite(e.term, now);
  }

  /** A read of this group was served here. */
  readServed(): void {
    this.#readsServed++;
    this.#reads.add(this.#now());
  }

  /** TimeoutNow reached this member: the next leader change is a transfer. */
  transferNoted(): void {
    this.#transferNotedMs = this.#now();
  }

  /** The leader's connections were refused or reset: a change that follows soon is a failover seen that way. */
  leaderGoneNoted(): void {
    this.#goneNotedMs = this.#now();
  }

  snapshotTaken(bytes: number): void {
    this.#sink?.snapshotTaken(bytes);
  }

  snapshotInstalled(bytes: number): void {
    this.#sink?.snapshotInstalled(bytes);
  }

  #onSoftState(s: SoftState, now: number): void {
    if (s.role === 'candidate' && this.#role !== 'candidate') {
      this.#log.info({ term: s.term }, 'election started');
    }
    this.#role = s.role;
    if (s.leader === this.#leader) return;
    if (this.#leader !== null && this.#pending === null) {
      this.#pending = { from: this.#leader, lostAtMs: now, lastWriteBeforeMs: this.#lastWriteMs };
      if (s.leader === null) this.#log.info({ previous: this.#leader, term: s.term }, 'leader lost');
    }
    this.#leader = s.leader;
    if (s.leader !== null) this.#leaderKnown(s.leader, s.term, now);
  }

  #leaderKnown(leader: NodeId, term: number, now: number): void {
    const p = this.#pending ?? { from: null, lostAtMs: null, lastWriteBeforeMs: this.#lastWriteMs };
    this.#pending = null;
    const transfer = this.#transferNotedMs !== null && now - this.#transferNotedMs <= transferNoteMs;
    const gone = this.#goneNotedMs !== null && now - this.#goneNotedMs <= transferNoteMs;
    this.#transferNotedMs = null;
    this.#goneNotedMs = null;
    const kind: LeaderChangeKind = !this.#everHadLeader ? 'initial' : transfer ? 'transfer' : 'failover';
    const detection: Detection | null =
      kind === 'initial' ? null : transfer ? 'handover' : gone ? 'connection lost' : 'election timeout';
    this.#everHadLeader = true;
    const lostAt = p.lostAtMs ?? now;
    const busy = p.lastWriteBeforeMs !== null && lostAt - p.lastWriteBeforeMs <= idleBeforeMs;
    const change: Mutable<LeaderChange> = {
      shard: this.#shard,
      observer: this.#self,
      term,
      from: p.from,
      to: leader,
      kind,
      detection,
      lostAtMs: p.lostAtMs,
      electedAtMs: now,
      lastWriteBeforeMs: p.lastWriteBeforeMs,
      firstWriteAfterMs: null,
      windowMs: null,
      window: busy && kind !== 'initial' ? 'open' : 'idle',
    };
    this.#changes.push(change);
    if (this.#changes.length > leaderChangesKept) this.#changes.shift();
    // A change that superseded an open one before any write closes it: it stays open only as the newer one.
    for (const o of this.#open.splice(0)) if (o.window === 'open') o.window = 'idle';
    if (change.window === 'open') this.#open.push(change);
    this.#sink?.leaderChanged(kind);
    if (leader !== this.#self) {
      this.#log.info({ term, leader, previous: p.from, kind, detection }, 'leader changed');
    }
  }

  #onWrite(term: number, now: number): void {
    this.#writesApplied++;
    this.#writes.add(now);
    this.#lastWriteMs = now;
    if (this.#open.length === 0) return;
    for (let i = this.#open.length - 1; i >= 0; i--) {
      const o = this.#open[i]!;
      if (term < o.term) continue;
      this.#open.splice(i, 1);
      o.firstWriteAfterMs = now;
      o.windowMs = now - o.lastWriteBeforeMs!;
      o.window = 'measured';
      this.#sink?.windowMeasured(o.windowMs);
      this.#log.info(
        { term: o.term, leader: o.to, previous: o.from, windowMs: o.windowMs, kind: o.kind },
        'writes resumed after leader change',
      );
    }
  }

  /** Rates over the last complete seconds, counters and leader changes, as of now. */
  activity(): GroupActivity {
    const now = this.#now();
    for (let i = this.#open.length - 1; i >= 0; i--) {
      const o = this.#open[i]!;
      if (now - o.electedAtMs <= idleAfterMs) continue;
      o.window = 'idle';
      this.#open.splice(i, 1);
    }
    return {
      writesPerSec: this.#writes.perSecond(now),
      readsPerSec: this.#reads.perSecond(now),
      writesApplied: this.#writesApplied,
      readsServed: this.#readsServed,
      lastWriteAtMs: this.#lastWriteMs,
      leaderChanges: this.#changes.map((c) => ({ ...c })),
    };
  }
}

/** Events per wall-clock second in a small ring; the rate is the mean of the last complete seconds. */
export class RateCounter {
  static readonly slots = 8;
  readonly #counts = new Float64Array(RateCounter.slots);
  readonly #seconds = new Float64Array(RateCounter.slots).fill(-1);

  add(nowMs: number, n = 1): void {
    const s = Math.floor(nowMs / 1000);
    const i = s % RateCounter.slots;
    if (this.#seconds[i] !== s) {
      this.#seconds[i] = s;
      this.#counts[i] = 0;
    }
    this.#counts[i]! += n;
  }

  /** Mean over the `seconds` complete seconds before the current one. */
  perSecond(nowMs: number, seconds = 2): number {
    const s = Math.floor(nowMs / 1000);
    let sum = 0;
    for (let k = 1; k <= seconds; k++) {
      const i = (s - k) % RateCounter.slots;
      if (this.#seconds[i] === s - k) sum += this.#counts[i]!;
    }
    return sum / seconds;
  }
}
