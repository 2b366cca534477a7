import { describe, expect, it } from 'vitest';
import { KVError, NotLeaderError } from '../../../src/node/errors.js';
import { Waiters } from '../../../src/node/waiters.js';

const errorOf = async (p: Promise<unknown>) => {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  return e instanceof KVError ? { status: e.status, code: e.code } : e;
};

describe('waiters', () => {
  it('resolve a proposal applied at its index and term', async () => {
    const w = new Waiters<string>();
    const p = w.waitProposal(5, 2, Number.POSITIVE_INFINITY);
    w.applied(5, 2, 'done');
    await expect(p).resolves.toBe('done');
    expect(w.size).toBe(0);
  });

  it('fail a proposal whose index was applied with another term: not applied (503)', async () => {
    const w = new Waiters<string>();
    const p = w.waitProposal(5, 2, Number.POSITIVE_INFINITY);
    w.applied(5, 3, 'someone else');
    expect(await errorOf(p)).toEqual({ status: 503, code: 'unavailable' });
  });

  it('fail an earlier proposal at the same index when the log was cut back and reused', async () => {
    const w = new Waiters<string>();
    const first = w.waitProposal(7, 2, Number.POSITIVE_INFINITY);
    const second = w.waitProposal(7, 4, Number.POSITIVE_INFINITY);
    w.applied(7, 4, 'second');
    expect(await errorOf(first)).toEqual({ status: 503, code: 'unavailable' });
    await expect(second).resolves.toBe('second');
  });

  it('time out a proposal with 504 (outcome unknown) and a read with 503', async () => {
    const w = new Waiters<string>();
    const p = w.waitProposal(1, 1, 100);
    const r = w.waitRead('r1', 100);
    w.expire(99);
    expect(w.size).toBe(2);
    w.expire(100);
    expect(await errorOf(p)).toEqual({ status: 504, code: 'timeout' });
    expect(await errorOf(r)).toEqual({ status: 503, code: 'unavailable' });
  });

  it('serve a confirmed read once the state machine reached its index', async () => {
    const w = new Waiters<string>();
    const r = w.waitRead('r1', Number.POSITIVE_INFINITY);
    w.readConfirmed('r1', 10, 8);
    expect(w.size).toBe(1);
    w.appliedTo(10);
    await expect(r).resolves.toBe(10);
  });

  it('fail unconfirmed reads when leadership is lost, but keep confirmed ones', async () => {
    const w = new Waiters<string>();
    const unconfirmed = w.waitRead('a', Number.POSITIVE_INFINITY);
    const confirmed = w.waitRead('b', Number.POSITIVE_INFINITY);
    w.readConfirmed('b', 10, 5);
    w.failUnconfirmedReads();
    expect(await errorOf(unconfirmed)).toEqual({ status: 503, code: 'unavailable' });
    w.appliedTo(10);
    await expect(confirmed).resolves.toBe(10);
  });

  it('fail unconfirmed reads with the error the group names, so a read can be routed again', async () => {
    const w = new Waiters<string>();
    const unconfirmed = w.waitRead('a', Number.POSITIVE_INFINITY);
    w.failUnconfirmedReads(() => new NotLeaderError(4));
    const err = await unconfirmed.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotLeaderError);
    expect((err as NotLeaderError).shard).toBe(4);
    expect(w.size).toBe(0);
  });

  it('give proposals overtaken by a snapshot an unknown outcome', async () => {
    const w = new Waiters<string>();
    const covered = w.waitProposal(3, 1, Number.POSITIVE_INFINITY);
    const after = w.waitProposal(9, 1, Number.POSITIVE_INFINITY);
    w.coveredBySnapshot(5);
    expect(await errorOf(covered)).toEqual({ status: 504, code: 'timeout' });
    expect(w.size).toBe(1);
    w.applied(9, 1, 'ok');
    await expect(after).resolves.toBe('ok');
  });

  it('fail every wait at failAll, writes as outcome unknown and reads as unavailable, and every later wait at once', async () => {
    const w = new Waiters<string>();
    const write = w.waitProposal(4, 1, Number.POSITIVE_INFINITY);
    const read = w.waitRead('r1', Number.POSITIVE_INFINITY);
    w.failAll('this node could not persist it');
    const messages = async (p: Promise<unknown>) => ((await p.catch((e: unknown) => e)) as KVError).message;
    expect(await errorOf(write)).toEqual({ status: 504, code: 'timeout' });
    expect(await messages(write)).toBe(
      'proposed, but this node could not persist it; the write may or may not take effect',
    );
    expect(await errorOf(read)).toEqual({ status: 503, code: 'unavailable' });
    expect(await messages(read)).toBe('this node could not persist it; the read was not served');
    // Nothing would ever expire a later wait: it fails at once instead.
    expect(await errorOf(w.waitProposal(5, 1, Number.POSITIVE_INFINITY))).toEqual({
      status: 504,
      code: 'timeout',
    });
    expect(await errorOf(w.waitRead('r2', Number.POSITIVE_INFINITY))).toEqual({
      status: 503,
      code: 'unavailable',
    });
    expect(w.size).toBe(0);
  });
});
