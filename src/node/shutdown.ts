/**
 * How a node stops: cleanly on SIGTERM (say so to the peers, hand leadership over to members
 * that are up and staying while still serving, then stop ticking, finish the running turn, fail
 * waiting clients, close transport and store), or at once when its disk failed (nothing more is
 * stepped or acknowledged). When every node stops at once (`docker compose down`), each hears
 * within a heartbeat round that the others are stopping too, hands nothing over and exits.
 */

import type { Logger } from 'pino';
import type { NodeId } from '../raft/types.js';
import type { RaftStore } from '../storage/raft-store.js';
import type { Transport } from '../transport/transport.js';
import type { Clock } from './clock.js';
import type { DriveLoop } from './drive-loop.js';
import type { AnyGroup } from './group.js';
import { leadershipGone } from './leader-waits.js';

export interface ShutdownDeps {
  /** The node's replicas; read anew at each use (replicas come and go). */
  readonly groups: Iterable<AnyGroup>;
  readonly loop: DriveLoop;
  readonly transport: Transport;
  readonly store: RaftStore;
  readonly clock: Clock;
  readonly log: Logger;
  /** Stops the node's tick timer. */
  readonly stopTicking: () => void;
  /** How long a stopping node listens for peers that stop too before it picks whom to hand over to. */
  readonly noticeWaitMs: number;
}

/** How long a peer's word that it is stopping counts (a restarted peer may be a target again). */
export const stoppingNoticeMs = 10_000;

/** What a stopping node's hand-over did. */
export interface HandOver {
  /** Group → the member it was handed to. */
  readonly handedTo: Readonly<Record<number, NodeId>>;
  /** Groups led here with no member up and staying to take them (every other one stops too). */
  readonly kept: readonly number[];
  /** Handed groups still led here when the wait ended (a target stopped too, or the wait ran out). */
  readonly stillLeading: readonly number[];
  readonly waitedMs: number;
  /** The peers that said they are stopping. */
  readonly peersStopping: readonly NodeId[];
}

export class Shutdown {
  readonly #d: ShutdownDeps;
  #handingOver = false;
  #stopped = false;
  #failure: Error | null = null;
  /** Groups whose leadership this node handed over when stopping, and to whom. */
  readonly #handedTo = new Map<number, NodeId>();
  /** Peers that said they are stopping, and when. */
  readonly #stopping = new Map<NodeId, number>();
  #onStopping: (() => void) | null = null;

  constructor(deps: ShutdownDeps) {
    this.#d = deps;
  }

  /** While handing over, the node refuses to take leadership back (it ignores TimeoutNow). */
  get handingOver(): boolean {
    return this.#handingOver;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** The storage failure that stopped the node, or null. */
  get failure(): Error | null {
    return this.#failure;
  }

  /** Whom this node handed `shard`'s leadership to while stopping (it no longer hears the new leader). */
  handedTo(shard: number): NodeId | null {
    return this.#handedTo.get(shard) ?? null;
  }

  /** Peer `peer` said it is stopping. */
  peerStopping(peer: NodeId): void {
    this.#stopping.set(peer, this.#d.clock.now());
    this.#onStopping?.();
  }

  /** `peer` opened a new stream to us: whatever it said before, it is running again. */
  peerBack(peer: NodeId): void {
    this.#stopping.delete(peer);
  }

  /** Whether `peer` can take leadership over: it is connected and did not say it is stopping. */
  staying(peer: NodeId): boolean {
    return !this.isStopping(peer) && (this.#d.transport.peerUp?.(peer) ?? true);
  }

  /** Whether `peer` said lately that it is stopping. */
  isStopping(peer: NodeId): boolean {
    const at = this.#stopping.get(peer);
    return at !== undefined && this.#d.clock.now() - at < stoppingNoticeMs;
  }

  /**
   * First half of SIGTERM: tell the peers, listen one heartbeat round for peers stopping too, then
   * hand leadership of every group we lead to its most up-to-date other voter that is up and
   * staying, and wait (at most `waitMs`) until it moved or every target said it stops too.
   * Meanwhile the node keeps serving and forwarding. Resolves with what happened per group.
   */
  async handOver(waitMs: number): Promise<HandOver> {
    this.#handingOver = true;
    this.#d.transport.notify?.('stopping');
    await new Promise<void>((resolve) => this.#d.clock.after(this.#d.noticeWaitMs, resolve));
    const handed: AnyGroup[] = [];
    const kept: number[] = [];
    for (const g of this.#d.groups) {
      if (g.raft.status().role !== 'leader' || g.raft.conf().voters.length < 2) continue;
      const target = g.bestTransferee((peer) => this.staying(peer));
      if (target !== null && g.raft.transferLeadership(target).ok) {
        this.#handedTo.set(g.id, target);
        g.observer.transferNoted();
        handed.push(g);
      } else kept.push(g.id);
    }
    this.#d.loop.schedule();
    const startedMs = this.#d.clock.now();
    const targetsStopping = new Promise<void>((resolve) => {
      this.#onStopping = () => {
        if (handed.every((g) => this.isStopping(this.#handedTo.get(g.id)!))) resolve();
      };
      this.#onStopping();
    });
    await Promise.race([leadershipGone(handed, waitMs, this.#d.clock), targetsStopping]);
    this.#onStopping = null;
    const stillLeading = handed.filter((g) => g.raft.status().role === 'leader').map((g) => g.id);
    return {
      handedTo: Object.fromEntries(this.#handedTo),
      kept,
      stillLeading,
      waitedMs: this.#d.clock.now() - startedMs,
      peersStopping: [...this.#stopping.keys()].filter((p) => this.isStopping(p)),
    };
  }

  /**
   * Second half: stop ticking and taking messages, let the running turn finish (so what it
   * persisted is on disk), fail every waiting client, close the transport and the store.
   */
  async shutdown(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#d.stopTicking();
    await this.#d.loop.stop();
    for (const g of this.#d.groups) g.waiters.failAll();
    // The answers to other nodes' calls that this failed are queued on the streams in the
    // promise callbacks that follow; the transport sends them as it closes.
    await new Promise<void>((resolve) => this.#d.clock.soon(resolve));
    await this.#d.transport.close();
    await this.#d.store.close();
    this.#d.log.info('node stopped');
  }

  /**
   * The drive loop could not persist a Ready (a write or fsync failed): what this node holds in
   * memory is ahead of its disk. It stops at once: no more ticks or peer messages (so no votes,
   * no elections, and as leader no heartbeats: the other members elect a new leader), every
   * waiting client fails (a write's outcome is unknown: its entries may have reached a quorum
   * through the followers), and `onFatal` decides how the process ends.
   */
  storageFailed(err: Error, onFatal: (err: Error) => void): void {
    this.#failure = err;
    this.#d.stopTicking();
    for (const g of this.#d.groups) g.waiters.failAll('this node could not persist it');
    onFatal(err);
  }
}
