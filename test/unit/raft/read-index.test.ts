/**
 * Linearizable reads with ReadIndex (thesis §6.4): the leader fixes a read index once it has
 * committed an entry of its term, confirms its leadership with one heartbeat round shared by every
 * read waiting for it, and drops the reads when it loses leadership.
 */

import { describe, expect, it } from 'vitest';
import type { Message } from '../../../src/raft/types.js';
import { drain, lone, TestCluster } from './cluster.js';

const voters = ['n1', 'n2', 'n3'];

/** Heartbeats that carried a ReadIndex round, as `round→to`. */
const readRounds = (msgs: readonly Message[]) =>
  msgs.flatMap((m) => (m.type === 'heartbeat' && m.read !== 0 ? [`${m.read}→${m.to}`] : []));

/** n1 leads term 1 but has not heard any follower acknowledge its no-op. */
function leaderBeforeCommit(): TestCluster {
  const c = new TestCluster(voters);
  c.filter((m) => m.type !== 'appendReply');
  c.elect('n1');
  return c;
}

describe('thesis §6.4 ReadIndex', () => {
  it('a read waits until the leader has committed an entry of its current term', () => {
    const c = leaderBeforeCommit();

    const res = c.get('n1').raft.readIndex('r1');
    c.stabilize();
    const waiting = { readStates: [...c.get('n1').readStates], rounds: readRounds(c.delivered) };
    c.heal();
    c.tickAll(1);

    expect(res).toEqual({ ok: true });
    expect(c.get('n1').raft.status()).toMatchObject({ role: 'leader', term: 1, commit: 1 });
    expect(waiting).toEqual({ readStates: [], rounds: [] });
    expect(c.get('n1').readStates).toEqual([{ ctx: 'r1', index: 1 }]);
    expect(readRounds(c.delivered)).toEqual(['1→n2', '1→n3']);
  });

  it('any number of reads that arrive before a round starts share that one heartbeat round', () => {
    const c = leaderBeforeCommit();
    for (const ctx of ['r1', 'r2', 'r3', 'r4', 'r5']) c.get('n1').raft.readIndex(ctx);

    c.heal();
    c.tickAll(1);

    expect(readRounds(c.delivered)).toEqual(['1→n2', '1→n3']);
    expect(c.get('n1').readStates).toEqual(['r1', 'r2', 'r3', 'r4', 'r5'].map((ctx) => ({ ctx, index: 1 })));
  });

  it('a read that arrives while a round is in flight waits for the next round', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    const n1 = c.get('n1');

    n1.raft.readIndex('r1');
    const firstRound = c.takeQueued();
    n1.raft.readIndex('r2');
    n1.raft.readIndex('r3');
    c.propose('n1', 'x');
    const beforeFirstAnswered = [...n1.readStates];
    for (const m of firstRound) c.deliver(m);
    c.stabilize();

    expect(readRounds(firstRound)).toEqual(['1→n2', '1→n3']);
    expect(beforeFirstAnswered).toEqual([]);
    expect(readRounds(c.delivered)).toEqual(['1→n2', '1→n3', '2→n2', '2→n3']);
    expect(n1.readStates).toEqual([
      { ctx: 'r1', index: 1 },
      { ctx: 'r2', index: 2 },
      { ctx: 'r3', index: 2 },
    ]);
    const readyWith = (ctx: string) => n1.readys.findIndex((rd) => rd.readStates.some((s) => s.ctx === ctx));
    expect(readyWith('r1')).toBeLessThan(readyWith('r2'));
  });

  it('a round is confirmed only when a majority, the leader included, has answered its heartbeat', () => {
    const c = new TestCluster(['n1', 'n2', 'n3', 'n4', 'n5']);
    c.elect('n1');
    c.tickAll(1);
    c.filter((m) => !(m.type === 'heartbeatReply' && ['n4', 'n5'].includes(m.from)));
    c.cut('n3', 'n1');

    c.get('n1').raft.readIndex('r1');
    c.stabilize();
    const withTwo = [...c.get('n1').readStates];
    c.heal();
    c.tickAll(1);

    expect(withTwo).toEqual([]);
    expect(c.get('n1').readStates).toEqual([{ ctx: 'r1', index: 1 }]);
  });

  it('a leader cut off from the majority cannot confirm a read, and drops it when it steps down', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.tickAll(1);
    c.isolate('n1');
    const n1 = c.get('n1');
    const seen = n1.readys.length;

    const res = n1.raft.readIndex('r1');
    c.tickUntil('n1', (m) => m.raft.status().role !== 'leader', 3 * c.config.electionTicks);
    c.stabilize();
    c.heal();
    c.elect('n2');
    c.tickAll(2);

    expect(res).toEqual({ ok: true });
    expect(n1.readStates).toEqual([]);
    expect(n1.readys.slice(seen).flatMap((rd) => (rd.softState === null ? [] : [rd.softState]))).toEqual([
      { role: 'follower', leader: null, term: 1 },
      { role: 'follower', leader: null, term: 2 },
      { role: 'follower', leader: 'n2', term: 2 },
    ]);
    expect(c.get('n1').raft.readIndex('r2')).toEqual({ ok: false, reason: 'notLeader', leader: 'n2' });
  });

  it('a stale leader that learns of a newer term drops its waiting reads', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.isolate('n1');
    c.elect('n2');
    const n1 = c.get('n1');
    n1.raft.readIndex('r1');
    const seen = n1.readys.length;

    c.heal();
    c.tickAll(2);

    expect(n1.readStates).toEqual([]);
    expect(n1.readys.slice(seen).flatMap((rd) => (rd.softState === null ? [] : [rd.softState]))).toEqual([
      { role: 'follower', leader: 'n2', term: 2 },
    ]);
  });

  it('a group of one serves reads without a heartbeat round, once its no-op is committed', () => {
    const n1 = lone('n1', ['n1']);
    while (n1.status().role !== 'leader') n1.tick();

    n1.readIndex('r1');
    const elected = drain(n1);
    const served = drain(n1);

    expect(elected.entries.map((e) => e.kind)).toEqual(['noop']);
    expect(elected.readStates).toEqual([]);
    expect(served.readStates).toEqual([{ ctx: 'r1', index: 1 }]);
    expect(served.messages).toEqual([]);
    expect(n1.readIndex('r2')).toEqual({ ok: true });
    expect(drain(n1).readStates).toEqual([{ ctx: 'r2', index: 1 }]);
  });

  it('a leader refuses reads as overloaded once pendingReadsMax reads wait', () => {
    const c = new TestCluster(voters, { pendingReadsMax: 2 });
    c.elect('n1');
    c.isolate('n1');
    const n1 = c.get('n1').raft;

    const results = ['r1', 'r2', 'r3'].map((ctx) => n1.readIndex(ctx));

    expect(results).toEqual([{ ok: true }, { ok: true }, { ok: false, reason: 'overloaded', leader: 'n1' }]);
    expect(c.get('n2').raft.readIndex('r4')).toEqual({ ok: false, reason: 'notLeader', leader: 'n1' });
  });
});
