/**
 * When each lease of one shard replica runs out, on this node's clock. The machine
 * (kv/state-machine.ts) holds leases and keys but no time; this holds the time but decides
 * nothing: the shard's leader asks it which leases are past their deadline and proposes their
 * revocation, which every replica then applies.
 *
 * A deadline is set when this replica *applies* a grant, keepalive or checkpoint: `now + ttl`
 * (or `now + remaining`). Followers apply an entry after the leader does, so a new leader's
 * deadlines are never earlier than its predecessor's: a leader change never expires a lease
 * early. They are not reset either: a replica keeps its deadlines across leader changes, so
 * frequent elections cannot keep a lease alive. What a replica could not observe (a restart, a
 * snapshot installed) it counts from when it learned the lease, which is late, never early; the
 * leader's periodic checkpoints (`checkpoints`) bound how much a restarted replica adds.
 */

import type { KVStateMachine, LeaseEvent, LeaseId } from '../kv/index.js';

interface Timer {
  ttlMs: number;
  deadline: number;
  /** The log index of the last grant or keepalive applied (a snapshot's index after restore). */
  renewedAt: number;
  /** When this node proposed its revocation, while that is under way. */
  revokingSince: number | null;
}

export class LeaseTimers {
  readonly #now: () => number;
  readonly #timers = new Map<LeaseId, Timer>();
  #machine: KVStateMachine | null = null;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Follows `m` (a new machine of the replica: empty, or from a snapshot) from now on. */
  wire(m: KVStateMachine): void {
    this.#machine?.onLease(null);
    this.#machine = m;
    this.#timers.clear();
    const now = this.#now();
    for (const [lease, ttlMs] of m.leases())
      this.#timers.set(lease, {
        ttlMs,
        deadline: now + ttlMs,
        renewedAt: m.appliedIndex,
        revokingSince: null,
      });
    m.onLease((e) => this.#heard(e));
  }

  #heard(e: LeaseEvent): void {
    const now = this.#now();
    switch (e.type) {
      case 'renewed': {
        const t = this.#timers.get(e.lease);
        if (t === undefined) {
          this.#timers.set(e.lease, {
            ttlMs: e.ttlMs,
            deadline: now + e.ttlMs,
            renewedAt: e.index,
            revokingSince: null,
          });
        } else {
          t.deadline = now + e.ttlMs;
          t.renewedAt = e.index;
        }
        return;
      }
      case 'checkpoint': {
        const t = this.#timers.get(e.lease);
        if (t !== undefined && t.renewedAt <= e.asOf) t.deadline = now + e.remainingMs;
        return;
      }
      case 'revoked':
        this.#timers.delete(e.lease);
        return;
    }
  }

  get size(): number {
    return this.#timers.size;
  }

  /** How long lease `lease` has left here (≥ 0), or null when the replica holds no such lease. */
  remainingMs(lease: LeaseId): number | null {
    const t = this.#timers.get(lease);
    return t === undefined ? null : Math.max(0, t.deadline - this.#now());
  }

  /**
   * Up to `max` leases past their deadline whose revocation is not under way (or was proposed
   * over `retryMs` ago, so a revoke lost with a leader change is proposed again); each is marked
   * as being revoked now.
   */
  due(max: number, retryMs: number): LeaseId[] {
    const now = this.#now();
    const out: LeaseId[] = [];
    for (const [lease, t] of this.#timers) {
      if (out.length === max) break;
      if (t.deadline > now) continue;
      if (t.revokingSince !== null && now - t.revokingSince < retryMs) continue;
      t.revokingSince = now;
      out.push(lease);
    }
    return out;
  }

  /** A revocation this node proposed failed: the lease is due again at the next look. */
  revokeFailed(lease: LeaseId): void {
    const t = this.#timers.get(lease);
    if (t !== undefined) t.revokingSince = null;
  }

  /**
   * The leases not renewed for over `periodMs` and with more than a period left, with what they
   * have left: what the leader checkpoints. A lease renewed within the period, or one so short
   * that a restart could add little to it, needs none.
   */
  checkpoints(periodMs: number): { leases: LeaseId[]; remainingMs: number[] } {
    const now = this.#now();
    const leases: LeaseId[] = [];
    const remainingMs: number[] = [];
    for (const [lease, t] of this.#timers) {
      const left = t.deadline - now;
      if (left > t.ttlMs - periodMs || left <= periodMs) continue;
      leases.push(lease);
      remainingMs.push(Math.floor(left));
    }
    return { leases, remainingMs };
  }
}
