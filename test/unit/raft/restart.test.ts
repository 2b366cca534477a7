/**
 * Crash and restart (§5, Figure 2 "persistent state"; §7): a member comes back with exactly what
 * it persisted — hard state, snapshot and log — and nothing a Ready held that it never persisted.
 */

import { describe, expect, it } from 'vitest';
import { bytes, positions, TestCluster } from './cluster.js';

const voters = ['n1', 'n2', 'n3'];
/** No pre-vote and no check-quorum: votes are cast as soon as requests arrive. */
const basic = { preVote: false, checkQuorum: false };

/** n1 and n2 both campaign for term 1; their vote requests are returned undelivered. */
function twoCandidates(c: TestCluster) {
  c.tickUntil('n1', (m) => m.raft.status().role === 'candidate');
  c.tickUntil('n2', (m) => m.raft.status().role === 'candidate');
  const requests = c.takeQueued();
  const to = (from: string) => requests.find((m) => m.from === from && m.to === 'n3')!;
  return { fromN1: to('n1'), fromN2: to('n2') };
}

describe('§5 Figure 2 and §7: restart from persisted state', () => {
  it('currentTerm and votedFor survive a restart: a member that voted cannot vote for another candidate in that term', () => {
    const c = new TestCluster(voters, basic);
    const { fromN1, fromN2 } = twoCandidates(c);
    c.deliver(fromN1);
    c.processReady('n3');

    c.restart('n3');
    c.deliver(fromN2);
    c.deliver(fromN1);
    c.processReady('n3');

    const n3 = c.get('n3');
    expect(n3.durable.hardState).toEqual({ term: 1, vote: 'n1', commit: 0 });
    expect(n3.raft.status()).toMatchObject({ term: 1, vote: 'n1' });
    expect(n3.readys.flatMap((rd) => rd.messages)).toEqual([
      { type: 'voteReply', from: 'n3', to: 'n2', term: 1, pre: false, granted: false },
      { type: 'voteReply', from: 'n3', to: 'n1', term: 1, pre: false, granted: true },
    ]);
  });

  it('a vote that was in a Ready but never persisted was never sent: after the crash the member may vote again', () => {
    const c = new TestCluster(voters, basic);
    const { fromN1, fromN2 } = twoCandidates(c);
    c.deliver(fromN1);

    const lost = c.crashBeforePersist('n3');
    c.deliver(fromN2);
    c.stabilize();

    expect(lost?.hardState).toEqual({ term: 1, vote: 'n1', commit: 0 });
    expect(lost?.messages.map((m) => m.type)).toEqual(['voteReply']);
    expect(c.get('n3').raft.status()).toMatchObject({ term: 1, vote: 'n2' });
    expect(c.deliveredOf('voteReply', { from: 'n3' }).map((m) => [m.to, m.granted])).toEqual([['n2', true]]);
    expect(c.leaderIds()).toEqual(['n2']);
  });

  it('entries a follower held only in an unpersisted Ready are not trusted: the leader does not count them and sends them again', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.tickAll(1);
    c.isolate('n2');
    c.get('n1').raft.propose(bytes('x'));
    for (const m of c.takeQueued()) c.deliver(m);

    const lost = c.crashBeforePersist('n3');
    c.stabilize();
    const afterCrash = { n1: c.get('n1').raft.status().commit, n3: c.get('n3').raft.status() };
    c.tickAll(1);

    expect(positions(lost?.entries ?? [])).toEqual(['2:1']);
    expect(lost?.messages).toEqual([
      { type: 'appendReply', from: 'n3', to: 'n1', term: 1, index: 2, ok: true, hint: null },
    ]);
    expect(afterCrash.n1).toBe(1);
    expect(afterCrash.n3).toMatchObject({ term: 1, lastIndex: 1, commit: 1 });
    expect(c.get('n1').raft.status().commit).toBe(2);
    expect(c.appliedTexts('n3')).toEqual(['x']);
  });

  it('a leader that crashes before persisting a proposal never sent it, and no member ever applies it', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    const res = c.get('n1').raft.propose(bytes('x'));

    const lost = c.crashBeforePersist('n1');
    c.elect('n2');
    c.propose('n2', 'y');
    c.tickAll(2);

    expect(res).toEqual({ ok: true, index: 2, term: 1 });
    expect(positions(lost?.entries ?? [])).toEqual(['2:1']);
    expect(c.deliveredOf('append').some((m) => m.entries.some((e) => e.term === 1 && e.index === 2))).toBe(
      false,
    );
    for (const id of voters) {
      expect(c.appliedTexts(id)).toEqual(['y']);
      expect(positions(c.get(id).raft.logView().entries)).toEqual(['1:1', '2:2', '3:2']);
    }
  });

  it('a restarted member installs its snapshot and re-applies the committed entries after it', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    for (const s of ['a', 'b', 'c']) c.propose('n1', s);
    c.tickAll(1);
    c.compact('n2', 3, bytes('state@3'));

    c.restart('n2');
    c.restart('n3');
    c.stabilize();

    const n2 = c.get('n2');
    expect(n2.installed).toEqual({
      meta: { index: 3, term: 1, voters, learners: [] },
      data: bytes('state@3'),
    });
    expect(positions(n2.applied)).toEqual(['4:1']);
    expect(c.appliedTexts('n2')).toEqual(['c']);
    expect(n2.raft.status()).toMatchObject({ commit: 4, applied: 4, snapshotIndex: 3, lastIndex: 4 });
    expect(c.get('n3').installed).toBeNull();
    expect(positions(c.get('n3').applied)).toEqual(['1:1', '2:1', '3:1', '4:1']);
  });

  it('an acknowledged (committed) entry survives restarts of every member, one by one and all at once', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    const acked = c.propose('n1', 'a');
    const appliedByLeader = c.appliedTexts('n1');

    for (const id of voters) {
      c.restart(id);
      c.tickAll(3 * c.config.electionTicks);
    }
    for (const id of voters) c.restart(id);
    c.tickAll(4 * c.config.electionTicks);
    const leader = c.leaderIds();
    c.propose(leader[0]!, 'b');

    expect(acked).toEqual({ ok: true, index: 2, term: 1 });
    expect(appliedByLeader).toEqual(['a']);
    expect(leader).toHaveLength(1);
    for (const id of voters) {
      expect(c.appliedTexts(id)).toEqual(['a', 'b']);
      expect(c.get(id).durable.entries.map((e) => new TextDecoder().decode(e.data))).toContain('a');
    }
  });
});
