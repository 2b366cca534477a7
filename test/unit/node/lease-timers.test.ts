/**
 * LeaseTimers on their own: deadlines set when a grant or keepalive is applied (on the node's
 * clock), checkpoints that lower a deadline unless the lease was renewed after them, the leases
 * due for revocation (each proposed once until the retry time), and what a new machine (from a
 * snapshot) starts with.
 */
import { describe, expect, it } from 'vitest';
import { encodeCommand, KVStateMachine } from '../../../src/kv/index.js';
import { LeaseTimers } from '../../../src/node/lease-timers.js';

function setup() {
  const clock = { now: 10_000 };
  const timers = new LeaseTimers(() => clock.now);
  const m = new KVStateMachine();
  timers.wire(m);
  let index = 0;
  const apply = (cmd: Parameters<typeof encodeCommand>[0]) => m.apply(++index, encodeCommand(cmd));
  return { clock, timers, m, apply, at: () => index };
}

describe('LeaseTimers', () => {
  it('a lease is due once its ttl has passed since the last grant or keepalive applied here', () => {
    const { clock, timers, apply } = setup();
    apply({ op: 'leaseGrant', lease: 1, ttlMs: 2_000 });
    clock.now += 1_500;
    apply({ op: 'leaseKeepalive', lease: 1 });
    expect(timers.remainingMs(1)).toBe(2_000);
    clock.now += 1_999;
    expect(timers.due(10, 5_000)).toEqual([]);
    clock.now += 1;
    expect(timers.due(10, 5_000)).toEqual([1]);
    // Proposed once; again only after the retry time, or at once if the revoke failed.
    expect(timers.due(10, 5_000)).toEqual([]);
    timers.revokeFailed(1);
    expect(timers.due(10, 5_000)).toEqual([1]);
    clock.now += 5_000;
    expect(timers.due(10, 5_000)).toEqual([1]);
    apply({ op: 'leaseRevoke', lease: 1, expired: true });
    expect(timers.size).toBe(0);
    expect(timers.remainingMs(1)).toBe(null);
  });

  it('gives at most `max` due leases per look', () => {
    const { clock, timers, apply } = setup();
    for (let lease = 1; lease <= 5; lease++) apply({ op: 'leaseGrant', lease, ttlMs: 1_000 });
    clock.now += 1_000;
    expect(timers.due(2, 5_000)).toHaveLength(2);
    expect(timers.due(10, 5_000)).toHaveLength(3);
  });

  it('a checkpoint sets what is left, unless the lease was renewed after it was taken', () => {
    const { clock, timers, apply, at } = setup();
    apply({ op: 'leaseGrant', lease: 1, ttlMs: 60_000 });
    apply({ op: 'leaseGrant', lease: 2, ttlMs: 60_000 });
    const asOf = at();
    apply({ op: 'leaseKeepalive', lease: 2 }); // after the checkpoint's index: it keeps its renewal
    apply({ op: 'leaseCheckpoint', asOf, leases: [1, 2], remainingMs: [30_000, 30_000] });
    expect(timers.remainingMs(1)).toBe(30_000);
    expect(timers.remainingMs(2)).toBe(60_000);
    clock.now += 30_000;
    expect(timers.due(10, 5_000)).toEqual([1]);
  });

  it('checkpoints list the leases not renewed for a period that still have more than a period left', () => {
    const { clock, timers, apply } = setup();
    apply({ op: 'leaseGrant', lease: 1, ttlMs: 60_000 });
    apply({ op: 'leaseGrant', lease: 2, ttlMs: 3_000 });
    expect(timers.checkpoints(5_000)).toEqual({ leases: [], remainingMs: [] });
    clock.now += 6_000;
    apply({ op: 'leaseGrant', lease: 3, ttlMs: 60_000 });
    expect(timers.checkpoints(5_000)).toEqual({ leases: [1], remainingMs: [54_000] });
  });

  it('a machine made from a snapshot counts its leases from now: late, never early', () => {
    const { clock, timers, apply, m } = setup();
    apply({ op: 'leaseGrant', lease: 7, ttlMs: 2_000 });
    clock.now += 1_900;
    const restored = KVStateMachine.restore(m.snapshot());
    timers.wire(restored);
    expect(timers.remainingMs(7)).toBe(2_000);
    // The old machine no longer moves the timers.
    apply({ op: 'leaseRevoke', lease: 7, expired: false });
    expect(timers.size).toBe(1);
  });
});
