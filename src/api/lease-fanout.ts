/**
 * A lease lives on every shard (its keys may be on any): each lease command is proposed on every
 * shard's leader, here or through a call on the peer stream, and the answers are combined. A
 * lease is alive while every shard holds it; a shard that expired it makes the lease dead
 * everywhere (the next keepalive revokes it on the others and answers 404).
 */

import { randomInt } from 'node:crypto';
import {
  groupName,
  type KVResult,
  type LeaseCommand,
  type LeaseId,
  leaseIdText,
  leaseNotFound,
  type RaftKVNode,
  unavailable,
} from '../node/index.js';
import type { Forwarder } from './forward.js';
import { serveOrForward } from './serve-or-forward.js';

export interface LeaseFanoutDeps {
  readonly node: RaftKVNode;
  /** Counts a command served by the leader's node through a call. */
  readonly onRemote: () => void;
}

/** Lease ids are drawn from [1, 2^48): a grant that draws a taken id draws again, this many times at most. */
const grantAttempts = 3;

/** No HTTP relay for a lease command: without a stream to the shard's leader it is refused, nothing done. */
const noRelay: Pick<Forwarder, 'forward'> = {
  forward: async () => {
    throw unavailable('no connection to the shard leader yet; nothing was done');
  },
};

/** Proposes `cmd` on `shard`'s leader and returns its result. */
async function proposeOn(deps: LeaseFanoutDeps, shard: number, cmd: LeaseCommand): Promise<KVResult> {
  return serveOrForward(
    { node: deps.node, forwarder: noRelay, onRemote: deps.onRemote },
    { shard, method: 'POST', url: '/v1/leases', headers: {}, body: null },
    async (on) => (await on.propose(shard, cmd)).result,
    () => {
      throw unavailable(`no leader reachable for ${groupName(shard)}`);
    },
    { remote: true },
  );
}

/** Every shard's result (or error) for `make(shard)`, in shard order. */
function onEveryShard(
  deps: LeaseFanoutDeps,
  make: (shard: number) => LeaseCommand,
): Promise<PromiseSettledResult<KVResult>[]> {
  const shards = Array.from({ length: deps.node.config.shards }, (_, s) => s);
  return Promise.allSettled(shards.map((s) => proposeOn(deps, s, make(s))));
}

/** The first error among `settled`, if any. */
function firstError(settled: PromiseSettledResult<KVResult>[]): unknown {
  return settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason;
}

const isOk = (r: PromiseSettledResult<KVResult>) => r.status === 'fulfilled' && r.value.ok;

/** Revokes `lease` on every shard, as cleanup after a failed grant or an expiry seen by one shard. */
function revokeEverywhere(deps: LeaseFanoutDeps, lease: LeaseId): Promise<PromiseSettledResult<KVResult>[]> {
  return onEveryShard(deps, () => ({ op: 'leaseRevoke', lease, expired: false }));
}

/**
 * Grants a new lease of `ttlMs` on every shard and returns its id. A shard that fails makes the
 * grant fail (its error), after the lease is revoked where it was granted: nothing is left
 * behind (or, if that revoke fails too, a lease nobody knows, which expires after `ttlMs`).
 */
export async function grantLease(deps: LeaseFanoutDeps, ttlMs: number): Promise<LeaseId> {
  for (let attempt = 1; ; attempt++) {
    const lease = randomInt(1, 2 ** 48);
    const settled = await onEveryShard(deps, () => ({ op: 'leaseGrant', lease, ttlMs }));
    if (settled.every(isOk)) return lease;
    await revokeEverywhere(deps, lease);
    const err = firstError(settled);
    if (err !== undefined) throw err;
    if (attempt === grantAttempts)
      throw unavailable('could not draw an unused lease id; nothing was granted');
  }
}

/**
 * Renews `lease` on every shard and returns its time to live. A shard that no longer holds it (expired, revoked) makes it
 * dead: it is revoked on the others and the answer is 404. Any other failure passes through
 * (the shards that did renew it did; a retry is safe).
 */
export async function keepLeaseAlive(deps: LeaseFanoutDeps, lease: LeaseId): Promise<number> {
  const settled = await onEveryShard(deps, () => ({ op: 'leaseKeepalive', lease }));
  const lost = settled.some((r) => r.status === 'fulfilled' && !r.value.ok);
  if (lost) {
    await revokeEverywhere(deps, lease);
    throw leaseNotFound(leaseIdText(lease));
  }
  const err = firstError(settled);
  if (err !== undefined) throw err;
  const first = settled[0];
  return first?.status === 'fulfilled' && first.value.ok && first.value.op === 'lease'
    ? first.value.ttlMs
    : 0;
}

/**
 * Revokes `lease` on every shard, deleting its keys (each shard's at once). 404 when no shard
 * held it; a shard that failed passes its error through (a retry finishes the revoke).
 */
export async function revokeLease(deps: LeaseFanoutDeps, lease: LeaseId): Promise<void> {
  const settled = await revokeEverywhere(deps, lease);
  const err = firstError(settled);
  if (err !== undefined) throw err;
  if (!settled.some(isOk)) throw leaseNotFound(leaseIdText(lease));
}
