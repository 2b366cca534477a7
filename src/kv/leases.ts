/**
 * The leases of one shard's state machine: each lease's time to live and the keys attached to
 * it. Part of the replicated state; it holds no clock. When a lease runs out is decided outside
 * the machine (node/lease-timers.ts), by the shard's leader, and reaches every replica as a
 * replicated revoke.
 */

import { compareKeys } from './keys.js';

/** A lease id: a positive safe integer, written as hex in the API (`leaseIdText`). */
export type LeaseId = number;

/** The shortest and longest time to live a lease may be granted with, in ms. */
export const leaseTtlMinMs = 1_000;
export const leaseTtlMaxMs = 86_400_000;

/** The largest lease id: ids are drawn from 48 random bits. */
export const leaseIdMax = 2 ** 48 - 1;

/** A lease id as the API writes it: 12 hex digits. */
export function leaseIdText(id: LeaseId): string {
  return id.toString(16).padStart(12, '0');
}

/** The id `text` names, or null if it is not 1–12 hex digits naming a valid id. */
export function parseLeaseId(text: string): LeaseId | null {
  if (!/^[0-9a-f]{1,12}$/.test(text)) return null;
  const id = Number.parseInt(text, 16);
  return id >= 1 && id <= leaseIdMax ? id : null;
}

/** Why `id` is not a lease id, or null. */
export function leaseIdProblem(id: unknown): string | null {
  return Number.isSafeInteger(id) && (id as number) >= 1 && (id as number) <= leaseIdMax
    ? null
    : `lease id must be an integer in 1–${leaseIdMax}`;
}

/** Why `ttlMs` is not a lease time to live, or null. */
export function leaseTtlProblem(ttlMs: unknown): string | null {
  return Number.isSafeInteger(ttlMs) &&
    (ttlMs as number) >= leaseTtlMinMs &&
    (ttlMs as number) <= leaseTtlMaxMs
    ? null
    : `ttlMs must be an integer from ${leaseTtlMinMs} to ${leaseTtlMaxMs}`;
}

interface Lease {
  readonly ttlMs: number;
  readonly keys: Set<string>;
}

export class LeaseTable {
  // Invariant: a key is in the `keys` of at most one lease, exactly when #keyLease maps it to it.
  readonly #leases = new Map<LeaseId, Lease>();
  readonly #keyLease = new Map<string, LeaseId>();

  get size(): number {
    return this.#leases.size;
  }

  has(id: LeaseId): boolean {
    return this.#leases.has(id);
  }

  ttlOf(id: LeaseId): number | null {
    return this.#leases.get(id)?.ttlMs ?? null;
  }

  /** The lease `key` is attached to, or null. */
  leaseOf(key: string): LeaseId | null {
    return this.#keyLease.get(key) ?? null;
  }

  /** Adds a lease with no keys; false (nothing changed) if the id is taken. */
  grant(id: LeaseId, ttlMs: number): boolean {
    if (this.#leases.has(id)) return false;
    this.#leases.set(id, { ttlMs, keys: new Set() });
    return true;
  }

  /** Attaches `key` to lease `id` (which must exist), or to none (`null`), detaching it from any other. */
  attach(key: string, id: LeaseId | null): void {
    this.detach(key);
    if (id === null) return;
    this.#leases.get(id)!.keys.add(key);
    this.#keyLease.set(key, id);
  }

  detach(key: string): void {
    const had = this.#keyLease.get(key);
    if (had === undefined) return;
    this.#leases.get(had)!.keys.delete(key);
    this.#keyLease.delete(key);
  }

  /** Removes lease `id` and returns its keys (in `compareKeys` order), or null if there was no such lease. */
  revoke(id: LeaseId): string[] | null {
    const lease = this.#leases.get(id);
    if (lease === undefined) return null;
    this.#leases.delete(id);
    for (const key of lease.keys) this.#keyLease.delete(key);
    return [...lease.keys].sort(compareKeys);
  }

  /** Every lease (ascending id) with its time to live. */
  *entries(): IterableIterator<[LeaseId, number]> {
    for (const id of [...this.#leases.keys()].sort((a, b) => a - b)) yield [id, this.#leases.get(id)!.ttlMs];
  }
}
