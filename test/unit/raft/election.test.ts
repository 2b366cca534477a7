/**
 * Leader election (§5.2), the election restriction (§5.4.1), pre-vote (thesis §9.6) and
 * check-quorum with leader leases (thesis §6.2, §4.2.3).
 */

import { describe, expect, it } from 'vitest';
import { defaultRaftTuning, type Message } from '../../../src/raft/types.js';
import { drain, logOf, lone, positions, TestCluster, voteRequest } from './cluster.js';

const voters = ['n1', 'n2', 'n3'];

describe('§5.2 leader election', () => {
  it('each server will vote for at most one candidate in a given term, on a first-come-first-served basis', () => {
    const n1 = lone('n1', voters);

    n1.step(voteRequest('n2', 'n1', 1, { index: 0, term: 0 }));
    const first = drain(n1);
    n1.step(voteRequest('n3', 'n1', 1, { index: 0, term: 0 }));
    const second = drain(n1);
    n1.step(voteRequest('n2', 'n1', 1, { index: 0, term: 0 }));
    const retry = drain(n1);

    expect(first.hardState).toEqual({ term: 1, vote: 'n2', commit: 0 });
    expect(first.messages).toEqual([
      { type: 'voteReply', from: 'n1', to: 'n2', term: 1, pre: false, granted: true },
    ]);
    expect(second.hardState).toBeNull();
    expect(second.messages).toEqual([
      { type: 'voteReply', from: 'n1', to: 'n3', term: 1, pre: false, granted: false },
    ]);
    expect(retry.messages).toEqual([
      { type: 'voteReply', from: 'n1', to: 'n2', term: 1, pre: false, granted: true },
    ]);
    expect(n1.status().vote).toBe('n2');
  });

  it('a candidate wins an election if it receives votes from a majority, then appends a no-op entry of its term (§8)', () => {
    const n1 = lone('n1', voters, { preVote: false });
    n1.tick();
    while (!n1.hasReady()) n1.tick();
    const campaign = drain(n1);

    n1.step({ type: 'voteReply', from: 'n2', to: 'n1', term: 1, pre: false, granted: true });
    const won = drain(n1);

    expect(campaign.hardState).toEqual({ term: 1, vote: 'n1', commit: 0 });
    expect(campaign.softState).toEqual({ role: 'candidate', leader: null, term: 1 });
    expect(campaign.messages).toEqual(
      ['n2', 'n3'].map((to) => voteRequest('n1', to, 1, { index: 0, term: 0 })),
    );
    expect(won.softState).toEqual({ role: 'leader', leader: 'n1', term: 1 });
    expect(won.entries).toEqual([{ index: 1, term: 1, kind: 'noop', data: new Uint8Array(0) }]);
    expect(won.mustSync).toBe(true);
    expect(won.messages).toEqual(
      ['n2', 'n3'].map((to) => ({
        type: 'append',
        from: 'n1',
        to,
        term: 1,
        prevIndex: 0,
        prevTerm: 0,
        entries: won.entries,
        commit: 0,
      })),
    );
  });

  it('if many followers become candidates at the same time, votes could be split; each candidate times out and starts a new election', () => {
    const c = new TestCluster(['n1', 'n2', 'n3', 'n4'], { preVote: false });
    c.tickUntil('n1', (m) => m.raft.status().role === 'candidate');
    c.tickUntil('n2', (m) => m.raft.status().role === 'candidate');
    const requests = c.takeQueued();
    // n3 hears n1 first and n4 hears n2 first: two votes each, no majority of four.
    const order = (m: Message) => (m.to === 'n3' ? (m.from === 'n1' ? 0 : 1) : m.from === 'n2' ? 0 : 1);
    for (const m of [...requests].sort((a, b) => order(a) - order(b))) c.deliver(m);
    c.stabilize();
    const afterSplit = ['n1', 'n2'].map((id) => c.get(id).raft.status());

    c.tickAll(2 * c.config.electionTicks);

    expect(afterSplit.map((s) => [s.role, s.term])).toEqual([
      ['follower', 1],
      ['follower', 1],
    ]);
    expect(c.leaderIds()).toHaveLength(1);
    const leader = c.get(c.leaderIds()[0]!).raft.status();
    expect(leader.term).toBe(2);
    for (const m of c.members.values()) expect(m.raft.status()).toMatchObject({ term: 2, leader: leader.id });
  });

  it('election timeouts are chosen randomly from a fixed interval, [electionTicks, 2 * electionTicks)', () => {
    const electionTicks = defaultRaftTuning.electionTicks;
    const waits = new Set<number>();
    for (let seed = 0; seed < 200; seed++) {
      const n1 = lone('n1', voters, {}, {}, seed);
      let ticks = 0;
      while (n1.status().role === 'follower' && ticks < 3 * electionTicks) {
        n1.tick();
        ticks++;
      }
      waits.add(ticks);
    }

    expect([...waits].sort((a, b) => a - b)).toEqual(
      Array.from({ length: electionTicks }, (_, k) => electionTicks + k),
    );
  });
});

describe('§5.4.1 election restriction', () => {
  it('the voter denies its vote if its own log is more up-to-date than that of the candidate', () => {
    const durable = { hardState: { term: 2, vote: null, commit: 0 }, entries: logOf([1, 2]) };
    const n1 = lone('n1', voters, {}, durable);

    n1.step(voteRequest('n2', 'n1', 3, { index: 5, term: 1 }));
    const olderLastTerm = drain(n1);
    n1.step(voteRequest('n3', 'n1', 4, { index: 1, term: 2 }));
    const shorterLog = drain(n1);
    n1.step(voteRequest('n3', 'n1', 5, { index: 2, term: 2 }));
    const asUpToDate = drain(n1);

    expect(olderLastTerm.messages).toEqual([
      { type: 'voteReply', from: 'n1', to: 'n2', term: 3, pre: false, granted: false },
    ]);
    expect(olderLastTerm.hardState).toEqual({ term: 3, vote: null, commit: 0 });
    expect(shorterLog.messages).toEqual([
      { type: 'voteReply', from: 'n1', to: 'n3', term: 4, pre: false, granted: false },
    ]);
    expect(asUpToDate.messages).toEqual([
      { type: 'voteReply', from: 'n1', to: 'n3', term: 5, pre: false, granted: true },
    ]);
    expect(asUpToDate.hardState).toEqual({ term: 5, vote: 'n3', commit: 0 });
  });

  it('a candidate whose log lacks a committed entry cannot win', () => {
    const c = new TestCluster(voters, { preVote: false });
    c.elect('n1');
    c.isolate('n3');
    c.propose('n1', 'a');
    c.heal();
    c.isolate('n1');
    c.tick('n2', c.config.electionTicks);

    c.campaign('n3');
    const n3 = c.get('n3').raft.status();

    expect(n3.role).not.toBe('leader');
    expect(c.get('n2').raft.status()).toMatchObject({ term: n3.term, vote: null });
    expect(c.deliveredOf('voteReply', { to: 'n3' }).map((m) => [m.from, m.granted])).toEqual([['n2', false]]);
  });
});

describe('thesis §9.6 pre-vote', () => {
  it('a pre-vote request does not change the term of a member that rejects it', () => {
    const durable = { hardState: { term: 1, vote: null, commit: 0 }, entries: logOf([1, 1]) };
    const n1 = lone('n1', voters, {}, durable);

    n1.step(voteRequest('n2', 'n1', 2, { index: 1, term: 1 }, { pre: true }));
    const rd = drain(n1);

    expect(rd.hardState).toBeNull();
    expect(rd.messages).toEqual([
      { type: 'voteReply', from: 'n1', to: 'n2', term: 1, pre: true, granted: false },
    ]);
    expect(n1.status()).toMatchObject({ term: 1, vote: null, role: 'follower' });
  });

  it('a pre-candidate whose log is behind loses the pre-vote, and no member raises its term', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.filter((m) => !(m.type === 'append' && m.to === 'n3'));
    c.propose('n1', 'a');
    c.heal();
    c.isolate('n1');
    c.tick('n2', c.config.electionTicks);
    const n2Role = c.get('n2').raft.status().role;
    const seen = { n2: c.get('n2').readys.length, n3: c.get('n3').readys.length };

    c.tickUntil('n3', (m) => m.raft.status().role === 'preCandidate');
    c.stabilize();
    const hardStates = ['n2', 'n3'].flatMap((id) =>
      c
        .get(id)
        .readys.slice(seen[id as 'n2' | 'n3'])
        .filter((rd) => rd.hardState !== null),
    );
    const answers = c.deliveredOf('voteReply', { to: 'n3' });
    c.campaign('n2');

    expect(n2Role).toBe('follower');
    expect(answers).toEqual([
      { type: 'voteReply', from: 'n2', to: 'n3', term: 1, pre: true, granted: false },
    ]);
    expect(hardStates).toEqual([]);
    expect(c.get('n3').raft.status()).toMatchObject({ role: 'follower', leader: 'n2', term: 2 });
    expect(c.get('n2').raft.status()).toMatchObject({ role: 'leader', term: 2, commit: 3 });
  });

  it('a partitioned member rejoining does not disrupt the cluster: its term stays and the leader stays', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.isolate('n3');
    const seen = c.get('n3').readys.length;

    c.tick('n3', 5 * c.config.electionTicks);
    c.stabilize();
    const isolated = c.get('n3').raft.status();
    const readys = c.get('n3').readys.slice(seen);
    const requests = readys.flatMap((rd) => rd.messages);
    c.heal();
    c.tickAll(2 * c.config.electionTicks);

    expect(isolated).toMatchObject({ term: 1, role: 'preCandidate', leader: null });
    expect(readys.every((rd) => rd.hardState === null)).toBe(true);
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((m) => m.type === 'requestVote' && m.pre && m.term === 2)).toBe(true);
    expect(c.leaderIds()).toEqual(['n1']);
    for (const m of c.members.values()) expect(m.raft.status()).toMatchObject({ term: 1, leader: 'n1' });
  });

  it('without pre-vote, a member whose term ran ahead while partitioned is brought back without electing its stale log', () => {
    const c = new TestCluster(voters, { preVote: false });
    c.elect('n1');
    c.propose('n1', 'a');
    c.isolate('n3');
    c.tick('n3', 5 * c.config.electionTicks);
    c.stabilize();
    const ranAhead = c.get('n3').raft.status().term;
    c.propose('n1', 'b');

    c.heal();
    c.tickAll(4 * c.config.electionTicks);

    expect(ranAhead).toBeGreaterThan(3);
    expect(c.leaderIds()).toHaveLength(1);
    const leader = c.leaderIds()[0]!;
    expect(leader).not.toBe('n3');
    const term = c.get(leader).raft.status().term;
    expect(term).toBeGreaterThan(ranAhead);
    for (const m of c.members.values()) {
      expect(m.raft.status()).toMatchObject({ term, leader, commit: 4 });
      expect(c.appliedTexts(m.id)).toEqual(['a', 'b']);
    }
    expect(positions(c.get('n3').raft.logView().entries)).toEqual(
      positions(c.get(leader).raft.logView().entries),
    );
  });

  it('with pre-vote, a member whose term ran ahead (its transfer campaign was cut off) rejoins and one leader emerges', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.propose('n1', 'a');
    c.get('n1').raft.transferLeadership('n3');
    const timeoutNow = c.takeQueued().filter((m) => m.type === 'timeoutNow');
    for (const m of timeoutNow) c.deliver(m);
    c.isolate('n3');
    c.stabilize();
    const ranAhead = c.get('n3').raft.status();
    c.tickAll(c.config.electionTicks);
    const b = c.propose('n1', 'b');

    c.heal();
    c.tickAll(4 * c.config.electionTicks);

    expect(ranAhead).toMatchObject({ role: 'candidate', term: 2 });
    expect(b).toEqual({ ok: true, index: 3, term: 1 });
    expect(c.leaderIds()).toHaveLength(1);
    const leader = c.leaderIds()[0]!;
    expect(leader).not.toBe('n3');
    const term = c.get(leader).raft.status().term;
    expect(term).toBe(3);
    for (const m of c.members.values()) {
      expect(m.raft.status()).toMatchObject({ term, leader, commit: 4 });
      expect(c.appliedTexts(m.id)).toEqual(['a', 'b']);
    }
  });
});

describe('thesis §6.2 check-quorum and leader lease', () => {
  it('a leader steps down if an election timeout elapses without a successful round of heartbeats to a majority', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.tickAll(c.config.electionTicks);
    // Cut off right after a check-quorum round: the answers to the heartbeats sent with that
    // check count towards the next check, so the first check that finds no answers is the second.
    c.isolate('n1');
    const lost = c.propose('n1', 'lost');
    const seen = c.get('n1').readys.length;

    const ticks = c.tickUntil('n1', (m) => m.raft.status().role !== 'leader', 3 * c.config.electionTicks);
    c.stabilize();
    const steppedDown = c
      .get('n1')
      .readys.slice(seen)
      .map((rd) => rd.softState);
    c.elect('n2');
    c.propose('n2', 'kept');
    c.heal();
    c.tickAll(2 * c.config.electionTicks);

    expect(lost).toEqual({ ok: true, index: 2, term: 1 });
    expect(ticks).toBe(2 * c.config.electionTicks);
    expect(steppedDown).toEqual([{ role: 'follower', leader: null, term: 1 }]);
    expect(c.leaderIds()).toEqual(['n2']);
    for (const m of c.members.values()) {
      expect(c.appliedTexts(m.id)).toEqual(['kept']);
      expect(m.raft.status()).toMatchObject({ term: 2, leader: 'n2', commit: 3 });
    }
  });

  it('a follower that heard from its leader within the election timeout ignores a vote request', () => {
    const c = new TestCluster(voters, { preVote: false });
    c.elect('n1');
    c.tickAll(2);

    c.get('n2').raft.step(voteRequest('n3', 'n2', 2, { index: 1, term: 1 }));
    const n2 = c.get('n2').raft;

    expect(n2.hasReady()).toBe(false);
    expect(n2.status()).toMatchObject({ term: 1, vote: 'n1', leader: 'n1', role: 'follower' });
  });

  it('a vote request of a leadership transfer is answered within the lease', () => {
    const c = new TestCluster(voters, { preVote: false });
    c.elect('n1');
    c.tickAll(2);

    c.get('n2').raft.step(voteRequest('n3', 'n2', 2, { index: 1, term: 1 }, { transfer: true }));
    const rd = drain(c.get('n2').raft);

    expect(rd.hardState).toEqual({ term: 2, vote: 'n3', commit: 1 });
    expect(rd.messages).toEqual([
      { type: 'voteReply', from: 'n2', to: 'n3', term: 2, pre: false, granted: true },
    ]);
  });
});
