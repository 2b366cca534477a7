/**
 * The node's own Prometheus metrics (its registry is merged into the API's /metrics): proposals
 * and their commit latency, fsync latency of the store, leader changes with their measured
 * unavailability windows, snapshots taken and installed, the drive loop's turns and fsyncs, and
 * overload: requests in flight and requests refused to shed load.
 */

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RaftStore } from '../storage/raft-store.js';
import type { GroupEventSink } from './observer.js';

/** What became of a proposal: applied, refused before anything was proposed, or failed after. */
export type ProposalOutcome = 'applied' | 'refused' | 'failed';

/** Why a request was refused to shed load: the in-flight cap, or a lagging event loop. */
export type OverloadReason = 'in_flight' | 'event_loop_delay';

const latencyBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];
const sizeBuckets = [1_024, 16_384, 131_072, 1_048_576, 8_388_608, 67_108_864, 536_870_912];
const tickBuckets = [0.02, 0.04, 0.05, 0.06, 0.08, 0.1, 0.2, 0.4, 0.8, 1.6];
const windowBuckets = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30];

export class NodeMetrics {
  readonly registry = new Registry();
  readonly #proposals: Counter<'shard' | 'outcome'>;
  readonly #commitLatency: Histogram<'shard'>;
  readonly #fsyncLatency: Histogram;
  readonly #leaderChanges: Counter<'shard' | 'kind'>;
  readonly #windows: Histogram<'shard'>;
  readonly #snapshots: Counter<'shard' | 'kind'>;
  readonly #snapshotBytes: Histogram<'shard' | 'kind'>;
  readonly #overloadRefused: Counter<'reason'>;
  readonly #tickIntervals: Histogram;
  readonly #leasesExpired: Counter<'shard'>;

  /**
   * `loop` reads the drive loop's counters, `inFlight` the requests in flight and `keptTicks` the
   * ticks a busy event loop would have held back (LoopClock.keptTicks), all at scrape time.
   */
  constructor(
    loop: () => { turns: number; syncs: number },
    inFlight: () => number = () => 0,
    keptTicks: () => number = () => 0,
    leases: () => Iterable<[number, number]> = () => [],
  ) {
    const registers = [this.registry];
    this.#proposals = new Counter({
      name: 'raftkv_proposals_total',
      help: 'Writes proposed on shard groups this node leads, by outcome (applied, refused, failed)',
      labelNames: ['shard', 'outcome'],
      registers,
    });
    this.#commitLatency = new Histogram({
      name: 'raftkv_proposal_commit_seconds',
      help: 'Time from proposing a write to having it applied (committed on a majority)',
      labelNames: ['shard'],
      buckets: latencyBuckets,
      registers,
    });
    this.#fsyncLatency = new Histogram({
      name: 'raftkv_fsync_seconds',
      help: 'Latency of synced store writes (one per drive-loop turn for all groups)',
      buckets: latencyBuckets,
      registers,
    });
    this.#leaderChanges = new Counter({
      name: 'raftkv_leader_changes_total',
      help: 'Leader changes this node observed per shard group (initial, failover, transfer)',
      labelNames: ['shard', 'kind'],
      registers,
    });
    this.#windows = new Histogram({
      name: 'raftkv_failover_window_seconds',
      help: 'Unavailability of a shard across a leader change: last write before to first write after',
      labelNames: ['shard'],
      buckets: windowBuckets,
      registers,
    });
    this.#snapshots = new Counter({
      name: 'raftkv_snapshots_total',
      help: 'Snapshots taken here (log compaction) or installed from a leader',
      labelNames: ['shard', 'kind'],
      registers,
    });
    this.#snapshotBytes = new Histogram({
      name: 'raftkv_snapshot_bytes',
      help: 'Size of snapshots taken or installed',
      labelNames: ['shard', 'kind'],
      buckets: sizeBuckets,
      registers,
    });
    this.#overloadRefused = new Counter({
      name: 'raftkv_overload_refused_total',
      help: 'Client requests refused with 503 to shed load, by reason (in_flight cap, event_loop_delay)',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of ['in_flight', 'event_loop_delay'] as const) this.#overloadRefused.inc({ reason }, 0);
    new Gauge({
      name: 'raftkv_requests_in_flight',
      help: 'Client requests this node is waiting on: writes and linearizable reads it leads, and forwards',
      registers,
      collect() {
        this.set(inFlight());
      },
    });
    this.#tickIntervals = new Histogram({
      name: 'raftkv_tick_interval_seconds',
      help: 'Time between two Raft ticks (tickMs when the event loop keeps time; longer when it is held)',
      buckets: tickBuckets,
      registers,
    });
    new Counter({
      name: 'raftkv_ticks_kept_total',
      help: 'Ticks run as I/O reached the node because a busy event loop held its timers back',
      registers,
      collect() {
        this.reset();
        this.inc(keptTicks());
      },
    });
    new Gauge({
      name: 'raftkv_leases',
      help: 'Leases each shard replica on this node holds',
      labelNames: ['shard'],
      registers,
      collect() {
        this.reset();
        for (const [shard, count] of leases()) this.set({ shard: String(shard) }, count);
      },
    });
    this.#leasesExpired = new Counter({
      name: 'raftkv_leases_expired_total',
      help: 'Leases this node, as a shard leader, revoked because they were not renewed in time',
      labelNames: ['shard'],
      registers,
    });
    new Counter({
      name: 'raftkv_drive_loop_turns_total',
      help: 'Drive-loop turns (one Ready handled for every group with work)',
      registers,
      collect() {
        this.reset();
        this.inc(loop().turns);
      },
    });
    new Counter({
      name: 'raftkv_drive_loop_syncs_total',
      help: 'Drive-loop turns that fsynced (group commit: one fsync for all groups)',
      registers,
      collect() {
        this.reset();
        this.inc(loop().syncs);
      },
    });
  }

  /** A proposal on `shard` ended with `outcome`; `seconds` from propose to applied when applied. */
  proposal(shard: number, outcome: ProposalOutcome, seconds?: number): void {
    const s = String(shard);
    this.#proposals.inc({ shard: s, outcome });
    if (seconds !== undefined) this.#commitLatency.observe({ shard: s }, seconds);
  }

  /** A tick ran, `ms` after the one before. */
  ticked(ms: number): void {
    this.#tickIntervals.observe(ms / 1000);
  }

  /** As `shard`'s leader, this node revoked a lease that was not renewed in time. */
  leaseExpired(shard: number): void {
    this.#leasesExpired.inc({ shard: String(shard) });
  }

  /** A client request was refused with 503 to shed load. */
  overloadRefused(reason: OverloadReason): void {
    this.#overloadRefused.inc({ reason });
  }

  /** The events of one group, labelled with its shard. */
  groupSink(shard: number): GroupEventSink {
    const s = String(shard);
    return {
      leaderChanged: (kind) => this.#leaderChanges.inc({ shard: s, kind }),
      windowMeasured: (ms) => this.#windows.observe({ shard: s }, ms / 1000),
      snapshotTaken: (bytes) => {
        this.#snapshots.inc({ shard: s, kind: 'taken' });
        this.#snapshotBytes.observe({ shard: s, kind: 'taken' }, bytes);
      },
      snapshotInstalled: (bytes) => {
        this.#snapshots.inc({ shard: s, kind: 'installed' });
        this.#snapshotBytes.observe({ shard: s, kind: 'installed' }, bytes);
      },
    };
  }

  /** `store` with the latency of every synced write recorded; everything else passes through. */
  timed(store: RaftStore): RaftStore {
    const fsync = this.#fsyncLatency;
    return {
      identity: () => store.identity(),
      setIdentity: (identity) => store.setIdentity(identity),
      pins: () => store.pins(),
      setPin: (node, incarnation) => store.setPin(node, incarnation),
      replicas: () => store.replicas(),
      createReplica: (group, record) => store.createReplica(group, record),
      deleteReplica: (group) => store.deleteReplica(group),
      load: (group) => store.load(group),
      close: () => store.close(),
      async write(writes, opts) {
        if (!opts.sync) return store.write(writes, opts);
        const end = fsync.startTimer();
        try {
          await store.write(writes, opts);
        } finally {
          end();
        }
      },
    };
  }
}
