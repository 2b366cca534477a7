/**
 * Leases in the key-value state machine: grant, keepalive, keys attached by a put, revoke
 * deleting a shard's keys of the lease in one entry, the events the lease timers hear, the codec
 * of lease commands, and snapshots that carry leases (and still read format 1).
 */
import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeCommand, encodeCommand, type KVCommand } from '../../../src/kv/commands.js';
import { KVCommandError, KVSnapshotError } from '../../../src/kv/errors.js';
import { leaseIdText, parseLeaseId } from '../../../src/kv/leases.js';
import { type KVChange, KVStateMachine, type LeaseEvent } from '../../../src/kv/state-machine.js';
import { bytes, TestLog } from './kv-helpers.js';

const cond = { ifMatch: null, ifNoneMatch: false };
const leasedPut = (key: string, value: string, lease: number): Uint8Array =>
  encodeCommand({ op: 'put', key, value: bytes(value), cond, session: null, lease });
const lease = (cmd: KVCommand): Uint8Array => encodeCommand(cmd);

/** A machine with lease 7 (ttl 2000) holding keys a and b, and c without a lease, at index 4. */
function withLease(): { log: TestLog; changes: KVChange[]; events: LeaseEvent[] } {
  const log = new TestLog(new KVStateMachine());
  const changes: KVChange[] = [];
  const events: LeaseEvent[] = [];
  log.kv.onChange((c) => changes.push(c));
  log.kv.onLease((e) => events.push(e));
  expect(log.kv.apply(log.next++, lease({ op: 'leaseGrant', lease: 7, ttlMs: 2000 }))).toEqual({
    ok: true,
    op: 'lease',
    ttlMs: 2000,
  });
  expect(log.kv.apply(log.next++, leasedPut('a', '1', 7))).toEqual({ ok: true, op: 'put', version: '2' });
  expect(log.kv.apply(log.next++, leasedPut('b', '2', 7))).toEqual({ ok: true, op: 'put', version: '3' });
  log.put('c', '3');
  return { log, changes, events };
}

describe('leases in the state machine', () => {
  it('a grant creates the lease; a put under it attaches the key; the timers hear the grant with its index', () => {
    const { log, events } = withLease();
    expect(log.kv.leaseCount).toBe(1);
    expect(log.kv.leaseTtl(7)).toBe(2000);
    expect(log.kv.leaseOf('a')).toBe(7);
    expect(log.kv.leaseOf('c')).toBe(null);
    expect(events).toEqual([{ type: 'renewed', lease: 7, ttlMs: 2000, index: 1 }]);
  });

  it('a put under an unknown lease is lease_not_found and changes nothing', () => {
    const { log, changes } = withLease();
    expect(log.kv.apply(log.next++, leasedPut('d', 'x', 8))).toEqual({ ok: false, code: 'lease_not_found' });
    expect(log.kv.get('d')).toBe(null);
    expect(changes.map((c) => c.key)).toEqual(['a', 'b', 'c']);
    expect(log.kv.size).toBe(3);
    expect(log.kv.leaseCount).toBe(1);
  });

  it('a grant of a taken id is lease_exists and keeps the first lease as it was', () => {
    const { log } = withLease();
    expect(log.kv.apply(log.next++, lease({ op: 'leaseGrant', lease: 7, ttlMs: 5000 }))).toEqual({
      ok: false,
      code: 'lease_exists',
    });
    expect(log.kv.leaseTtl(7)).toBe(2000);
    expect(log.kv.leaseOf('a')).toBe(7);
  });

  it('keepalive renews a held lease (the timers hear it) and is lease_not_found for another', () => {
    const { log, events } = withLease();
    expect(log.kv.apply(5, lease({ op: 'leaseKeepalive', lease: 7 }))).toEqual({
      ok: true,
      op: 'lease',
      ttlMs: 2000,
    });
    expect(log.kv.apply(6, lease({ op: 'leaseKeepalive', lease: 9 }))).toEqual({
      ok: false,
      code: 'lease_not_found',
    });
    expect(events.at(-1)).toEqual({ type: 'renewed', lease: 7, ttlMs: 2000, index: 5 });
    expect(events).toHaveLength(2);
  });

  it('revoke deletes every key of the lease in one entry, in key order, and only those', () => {
    const { log, changes, events } = withLease();
    changes.length = 0;
    expect(log.kv.apply(5, lease({ op: 'leaseRevoke', lease: 7, expired: true }))).toEqual({
      ok: true,
      op: 'lease',
      ttlMs: 2000,
    });
    // The first says one more change of the same entry follows.
    expect(changes).toEqual([
      { type: 'delete', key: 'a', value: null, index: 5, more: 1 },
      { type: 'delete', key: 'b', value: null, index: 5 },
    ]);
    expect(log.kv.get('a')).toBe(null);
    expect(log.kv.get('b')).toBe(null);
    expect(log.kv.get('c')?.version).toBe('4');
    expect(log.kv.leaseCount).toBe(0);
    expect(events.at(-1)).toEqual({ type: 'revoked', lease: 7 });
    // Gone: a second revoke, a keepalive and a put under it are refused.
    expect(log.kv.apply(6, lease({ op: 'leaseRevoke', lease: 7, expired: false }))).toEqual({
      ok: false,
      code: 'lease_not_found',
    });
    expect(log.kv.apply(7, lease({ op: 'leaseKeepalive', lease: 7 }))).toEqual({
      ok: false,
      code: 'lease_not_found',
    });
    expect(log.kv.apply(8, leasedPut('a', 'again', 7))).toEqual({ ok: false, code: 'lease_not_found' });
    expect(log.kv.get('a')).toBe(null);
  });

  it('a put without a lease detaches the key, a delete detaches it, and a put moves it to another lease', () => {
    const { log, changes } = withLease();
    log.kv.apply(log.next++, lease({ op: 'leaseGrant', lease: 8, ttlMs: 1000 }));
    log.put('a', 'free'); // detached from 7
    log.del('b'); // detached from 7 by the delete
    log.kv.apply(log.next++, leasedPut('c', 'moved', 8));
    expect(log.kv.leaseOf('a')).toBe(null);
    expect(log.kv.leaseOf('c')).toBe(8);
    changes.length = 0;
    log.kv.apply(log.next++, lease({ op: 'leaseRevoke', lease: 7, expired: true }));
    expect(changes).toEqual([]);
    expect(log.value('a')).toBe('free');
    log.kv.apply(log.next++, lease({ op: 'leaseRevoke', lease: 8, expired: true }));
    expect(changes.map((c) => [c.type, c.key])).toEqual([['delete', 'c']]);
  });

  it('a put under a lease still honours its condition', () => {
    const { log } = withLease();
    const cmd = encodeCommand({
      op: 'put',
      key: 'a',
      value: bytes('x'),
      cond: { ifMatch: '99', ifNoneMatch: false },
      session: null,
      lease: 7,
    });
    expect(log.kv.apply(log.next++, cmd)).toEqual({ ok: false, code: 'precondition_failed' });
    expect(log.value('a')).toBe('1');
  });

  it('a checkpoint tells the timers what held leases have left, as of an index; unknown leases are skipped', () => {
    const { log, events } = withLease();
    const r = log.kv.apply(
      5,
      lease({ op: 'leaseCheckpoint', asOf: 4, leases: [7, 9], remainingMs: [1500, 100] }),
    );
    expect(r).toEqual({ ok: true, op: 'lease', ttlMs: 0 });
    expect(events.at(-1)).toEqual({ type: 'checkpoint', lease: 7, remainingMs: 1500, asOf: 4 });
    expect(events).toHaveLength(2);
  });
});

describe('snapshots with leases', () => {
  it('a snapshot carries leases and attachments: the restored machine has the same digest and revokes the same keys', () => {
    const { log } = withLease();
    const restored = KVStateMachine.restore(log.kv.snapshot());
    expect(restored.digest()).toBe(log.kv.digest());
    expect(restored.leaseOf('a')).toBe(7);
    expect([...restored.leases()]).toEqual([[7, 2000]]);
    const deletedKeys: string[] = [];
    restored.onChange((c) => deletedKeys.push(c.key));
    restored.apply(5, lease({ op: 'leaseRevoke', lease: 7, expired: true }));
    expect(deletedKeys).toEqual(['a', 'b']);
  });

  it('a lease differs the digest: two machines equal but for a lease attachment differ', () => {
    const one = withLease().log;
    const two = new TestLog(new KVStateMachine());
    two.kv.apply(two.next++, lease({ op: 'leaseGrant', lease: 7, ttlMs: 2000 }));
    two.kv.apply(two.next++, leasedPut('a', '1', 7));
    two.kv.apply(two.next++, encodeCommand({ op: 'put', key: 'b', value: bytes('2'), cond, session: null }));
    two.put('c', '3');
    expect(two.kv.get('b')).toEqual(one.kv.get('b'));
    expect(two.kv.digest()).not.toBe(one.kv.digest());
  });

  it('a machine without leases writes format 1, which older nodes read; format 1 restores with no leases', () => {
    const log = new TestLog(new KVStateMachine());
    log.put('k', 'v');
    const packr = new Packr({ useRecords: false, moreTypes: false });
    const raw = new Unpackr({ useRecords: false }).unpack(log.kv.snapshot()) as unknown[];
    expect(raw[0]).toBe(1);
    expect(raw).toHaveLength(7);
    const restored = KVStateMachine.restore(packr.pack(raw));
    expect(restored.leaseCount).toBe(0);
    expect(restored.digest()).toBe(log.kv.digest());
  });

  it('refuses a snapshot whose lease table is inconsistent', () => {
    const { log } = withLease();
    const raw = new Unpackr({ useRecords: false }).unpack(log.kv.snapshot()) as unknown[];
    expect(raw[0]).toBe(2);
    const packr = new Packr({ useRecords: false, moreTypes: false });
    const broken = (i: number, v: unknown) => packr.pack(raw.map((x, j) => (j === i ? v : x)));
    expect(() => KVStateMachine.restore(broken(9, [7, 9, 0]))).toThrow(KVSnapshotError); // key b names lease 9
    expect(() => KVStateMachine.restore(broken(8, [10]))).toThrow(KVSnapshotError); // ttl below the minimum
    expect(() => KVStateMachine.restore(broken(7, [7, 7]))).toThrow(KVSnapshotError); // lengths differ
    expect(() => KVStateMachine.restore(broken(0, 3))).toThrow(KVSnapshotError); // a newer format
  });
});

describe('lease commands in the log', () => {
  it('round-trip through the codec', () => {
    const cmds: KVCommand[] = [
      { op: 'leaseGrant', lease: 2 ** 48 - 1, ttlMs: 86_400_000 },
      { op: 'leaseKeepalive', lease: 1 },
      { op: 'leaseRevoke', lease: 42, expired: true },
      { op: 'leaseCheckpoint', asOf: 17, leases: [1, 2], remainingMs: [0, 5000] },
      { op: 'put', key: 'k', value: bytes('v'), cond, session: { client: 'c', seq: 3 }, lease: 42 },
    ];
    for (const cmd of cmds) expect(decodeCommand(encodeCommand(cmd))).toEqual(cmd);
  });

  it('refuses to encode lease commands out of range', () => {
    const bad: unknown[] = [
      { op: 'leaseGrant', lease: 0, ttlMs: 2000 },
      { op: 'leaseGrant', lease: 2 ** 48, ttlMs: 2000 },
      { op: 'leaseGrant', lease: 1, ttlMs: 999 },
      { op: 'leaseGrant', lease: 1, ttlMs: 86_400_001 },
      { op: 'leaseKeepalive', lease: 1.5 },
      { op: 'leaseRevoke', lease: 1, expired: 'yes' },
      { op: 'leaseCheckpoint', asOf: 1, leases: [1], remainingMs: [] },
      { op: 'leaseCheckpoint', asOf: 1, leases: [1], remainingMs: [-1] },
      { op: 'put', key: 'k', value: bytes('v'), cond, session: null, lease: -3 },
      { op: 'renew', lease: 1 },
    ];
    for (const cmd of bad) expect(() => encodeCommand(cmd as KVCommand)).toThrow(KVCommandError);
  });

  it('lease ids read and print as 12 hex digits', () => {
    expect(leaseIdText(0xabc)).toBe('000000000abc');
    expect(parseLeaseId('000000000abc')).toBe(0xabc);
    expect(parseLeaseId('abc')).toBe(0xabc);
    for (const bad of ['', '0', 'xyz', '1234567890abc', 'ABC', ' 1']) expect(parseLeaseId(bad)).toBe(null);
  });
});
