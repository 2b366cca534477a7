/**
 * Figure 8 of the Raft paper (§5.4.2), scripted with five members s1..s5. Index 1 is the term-1
 * leader's no-op, present everywhere; each later leader's no-op plays the entry the figure shows
 * for its term. The paper's basic algorithm (no pre-vote, no check-quorum) keeps the terms as drawn.
 */

import { describe, expect, it } from 'vitest';
import { positions, TestCluster } from './cluster.js';

const ids = ['s1', 's2', 's3', 's4', 's5'];

const logs = (c: TestCluster) =>
  Object.fromEntries(ids.map((id) => [id, positions(c.get(id).raft.logView().entries).join(' ')]));
const commits = (c: TestCluster) => Object.fromEntries(ids.map((id) => [id, c.get(id).raft.status().commit]));
const applied = (c: TestCluster) =>
  Object.fromEntries(ids.map((id) => [id, positions(c.get(id).applied).join(' ')]));

/** Ticks `id` until its term reaches `term` (one campaign per election timeout), then runs the cluster. */
function campaignTo(c: TestCluster, id: string, term: number): void {
  c.tickUntil(id, (m) => m.raft.status().term >= term, 4 * term * c.config.electionTicks);
  c.stabilize();
}

/** Runs the figure through (c): S1, leader of term 4, has replicated index 2 (term 2) to S2 and S3. */
function figure8c(): TestCluster {
  const c = new TestCluster(ids, { preVote: false, checkQuorum: false });
  campaignTo(c, 's1', 1);
  c.tickAll(1);

  // (a) S1 leads term 2 and replicates index 2 to S2 only.
  c.filter((m) => !(m.type === 'append' && m.from === 's1' && m.to !== 's2'));
  c.restart('s1');
  campaignTo(c, 's1', 2);

  // (b) S1 crashes; S5 wins term 3 with S3, S4 and itself, and writes index 2 of term 3 only locally.
  c.heal();
  c.isolate('s1');
  c.filter((m) => !(m.type === 'append' && m.from === 's5'));
  campaignTo(c, 's5', 3);

  // (c) S5 crashes; S1 restarts, wins term 4 (its no-op is index 3) and replicates index 2 to S3.
  // Its appends carry nothing past index 2 and none reach S4, as in the figure.
  c.heal();
  c.isolate('s5');
  c.filter((m) => !(m.type === 'append' && m.to === 's4'));
  c.rewrite((m) =>
    m.type === 'append' && m.from === 's1' ? { ...m, entries: m.entries.filter((e) => e.index <= 2) } : m,
  );
  c.restart('s1');
  campaignTo(c, 's1', 4);
  return c;
}

describe('§5.4.2 committing entries from previous terms (Figure 8)', () => {
  it('(a)–(c): a log entry from term 2 replicated on a majority by the leader of term 4 is not committed by counting replicas', () => {
    const c = figure8c();
    const acks = c
      .deliveredOf('appendReply', { to: 's1' })
      .filter((m) => m.term === 4 && m.ok)
      .map((m) => `${m.from}:${m.index}`);

    // S1 knows S2 and S3 hold index 2: with its own copy, a majority of five.
    expect([...new Set(acks)].sort()).toEqual(['s2:2', 's3:2']);
    expect(c.leaderIds()).toEqual(['s1', 's5']);
    expect(c.get('s1').raft.status()).toMatchObject({ role: 'leader', term: 4 });
    expect(logs(c)).toEqual({ s1: '1:1 2:2 3:4', s2: '1:1 2:2', s3: '1:1 2:2', s4: '1:1', s5: '1:1 2:3' });
    expect(commits(c)).toEqual({ s1: 1, s2: 1, s3: 1, s4: 1, s5: 1 });
    expect(applied(c)).toEqual({ s1: '1:1', s2: '1:1', s3: '1:1', s4: '1:1', s5: '1:1' });
  });

  it('(d): if S1 crashes, S5 can be elected with votes from S2, S3 and S4 and overwrite index 2 everywhere', () => {
    const c = figure8c();

    c.heal();
    c.isolate('s1');
    c.restart('s5');
    campaignTo(c, 's5', 5);
    const elected = c.get('s5').raft.status();
    const votes = c
      .deliveredOf('voteReply', { to: 's5' })
      .filter((m) => m.term === 5 && m.granted)
      .map((m) => m.from);
    c.heal();
    c.tickAll(2);

    expect(elected).toMatchObject({ role: 'leader', term: 5 });
    expect(votes.sort()).toEqual(['s2', 's3', 's4']);
    expect(logs(c)).toEqual({
      s1: '1:1 2:3 3:5',
      s2: '1:1 2:3 3:5',
      s3: '1:1 2:3 3:5',
      s4: '1:1 2:3 3:5',
      s5: '1:1 2:3 3:5',
    });
    expect(commits(c)).toEqual({ s1: 3, s2: 3, s3: 3, s4: 3, s5: 3 });
    expect(applied(c)).toEqual({
      s1: '1:1 2:3 3:5',
      s2: '1:1 2:3 3:5',
      s3: '1:1 2:3 3:5',
      s4: '1:1 2:3 3:5',
      s5: '1:1 2:3 3:5',
    });
  });

  it('(e): once S1 replicates an entry of its current term on a majority, it and index 2 are committed and S5 cannot win', () => {
    const c = figure8c();

    c.heal();
    c.isolate('s5');
    c.filter((m) => !(m.type === 'append' && m.to === 's4'));
    c.tickAll(1);
    const committed = { logs: logs(c), commits: commits(c), applied: applied(c) };
    c.heal();
    c.isolate('s1');
    c.restart('s5');
    campaignTo(c, 's5', 5);
    const s5 = c.get('s5').raft.status();
    const votes = c
      .deliveredOf('voteReply', { to: 's5' })
      .filter((m) => m.term === 5)
      .map((m) => `${m.from}:${m.granted}`);

    expect(committed.logs).toEqual({
      s1: '1:1 2:2 3:4',
      s2: '1:1 2:2 3:4',
      s3: '1:1 2:2 3:4',
      s4: '1:1',
      s5: '1:1 2:3',
    });
    expect(committed.commits).toEqual({ s1: 3, s2: 3, s3: 3, s4: 1, s5: 1 });
    expect(committed.applied).toEqual({
      s1: '1:1 2:2 3:4',
      s2: '1:1 2:2 3:4',
      s3: '1:1 2:2 3:4',
      s4: '1:1',
      s5: '1:1',
    });
    expect(s5.role).not.toBe('leader');
    expect(votes.sort()).toEqual(['s2:false', 's3:false', 's4:true']);

    c.heal();
    c.tickAll(4 * c.config.electionTicks);

    expect(c.leaderIds()).toHaveLength(1);
    for (const id of ids) {
      expect(positions(c.get(id).applied).slice(0, 3)).toEqual(['1:1', '2:2', '3:4']);
    }
  });
});
