/**
 * Raft.peerGone: the shell saw every connection to a peer refused or reset. A follower of that
 * peer ends its lease and campaigns, with pre-vote, after 1 + 2 × rank ticks (its place among the
 * other voters by id) instead of its election timeout; anything else (and a member without
 * pre-vote or check-quorum) ignores the hint, and a
 * false alarm deposes nobody while the leader is heard by a majority.
 */

import { describe, expect, it } from 'vitest';
import { TestCluster } from './cluster.js';

const ids = ['n1', 'n2', 'n3'];

function withLeader(leader: string, tuning = {}) {
  const c = new TestCluster(ids, tuning);
  c.elect(leader);
  expect(c.leaderIds()).toEqual([leader]);
  return c;
}

describe('peerGone', () => {
  it('a follower of the gone leader campaigns after 1 + 2 × rank ticks and wins; a pre-vote first', () => {
    const c = withLeader('n1');
    c.isolate('n1');
    for (const id of ['n2', 'n3']) c.get(id).raft.peerGone('n1');
    expect(c.get('n2').raft.status().leader).toBeNull();
    // n2 ranks 0 among {n2, n3}: its campaign starts on the first tick; n3 (rank 1) would wait 3.
    const ticks = c.tickUntil('n2', (m) => m.raft.status().role !== 'follower');
    expect({ ticks, role: c.get('n2').raft.status().role }).toEqual({ ticks: 1, role: 'preCandidate' });
    c.stabilize();
    expect(c.leaderIds().filter((id) => id !== 'n1')).toEqual(['n2']);
    expect(c.get('n2').raft.status().term).toBe(c.get('n1').raft.status().term + 1);
  });

  it('the second follower by rank waits three ticks', () => {
    const c = withLeader('n1');
    c.isolate('n1');
    c.get('n3').raft.peerGone('n1');
    expect(c.tickUntil('n3', (m) => m.raft.status().role !== 'follower')).toBe(3);
  });

  it('a false alarm deposes nobody: the other follower still in its lease refuses the pre-vote', () => {
    const c = withLeader('n1');
    const term = c.get('n1').raft.status().term;
    c.cut('n1', 'n2');
    c.cut('n2', 'n1');
    c.get('n2').raft.peerGone('n1');
    for (let t = 0; t < 4; t++) {
      c.tick('n1');
      c.tick('n2');
      c.tick('n3');
      c.stabilize();
    }
    expect({
      leaders: c.leaderIds(),
      term: c.get('n1').raft.status().term,
      n3Term: c.get('n3').raft.status().term,
    }).toEqual({ leaders: ['n1'], term, n3Term: term });
    // Heard again, n2 follows n1 again.
    c.heal();
    c.tick('n1');
    c.stabilize();
    expect(c.get('n2').raft.status()).toMatchObject({ role: 'follower', leader: 'n1', term });
  });

  it('is ignored for a peer that is not the leader, by the leader, and without pre-vote or check-quorum', () => {
    const c = withLeader('n1');
    c.get('n2').raft.peerGone('n3');
    c.get('n1').raft.peerGone('n2');
    expect(c.get('n2').raft.status().leader).toBe('n1');
    expect(c.get('n1').raft.status().role).toBe('leader');
    const noPreVote = withLeader('n1', { preVote: false });
    noPreVote.get('n2').raft.peerGone('n1');
    expect(noPreVote.get('n2').raft.status().leader).toBe('n1');
    // Without check-quorum no voter keeps a lease that would refuse a false alarm's pre-vote.
    const noLease = withLeader('n1', { checkQuorum: false });
    noLease.get('n2').raft.peerGone('n1');
    expect(noLease.get('n2').raft.status().leader).toBe('n1');
  });
});
