/**
 * Leadership transfer (thesis §3.10): the leader brings the target up to date, stops taking
 * proposals, and sends TimeoutNow; the target campaigns at once, past the voters' leader lease.
 */

import { describe, expect, it } from 'vitest';
import { TestCluster } from './cluster.js';

const voters = ['n1', 'n2', 'n3'];

describe('thesis §3.10 leadership transfer', () => {
  it('to an up-to-date follower: the leader sends TimeoutNow and the target wins an election at a higher term', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.tickAll(1);

    const res = c.get('n1').raft.transferLeadership('n2');
    const sent = c.takeQueued();
    for (const m of sent) c.deliver(m);
    c.stabilize();

    expect(res).toEqual({ ok: true });
    expect(sent).toEqual([{ type: 'timeoutNow', from: 'n1', to: 'n2', term: 1 }]);
    expect(
      c
        .deliveredOf('requestVote', { from: 'n2' })
        .map((m) => ({ term: m.term, pre: m.pre, transfer: m.transfer })),
    ).toEqual([
      { term: 2, pre: false, transfer: true },
      { term: 2, pre: false, transfer: true },
    ]);
    expect(c.leaderIds()).toEqual(['n2']);
    for (const m of c.members.values()) expect(m.raft.status()).toMatchObject({ term: 2, leader: 'n2' });
  });

  it('to a lagging follower: the leader first brings its log up to date, then sends TimeoutNow', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.filter((m) => !(m.type === 'append' && m.to === 'n2'));
    c.propose('n1', 'a');
    c.propose('n1', 'b');
    c.heal();
    const seen = c.delivered.length;

    c.get('n1').raft.transferLeadership('n2');
    c.stabilize();

    const toN2 = c.delivered
      .slice(seen)
      .filter((m) => m.from === 'n1' && m.to === 'n2' && m.term === 1)
      .map((m) => (m.type === 'append' ? `append prev=${m.prevIndex} entries=${m.entries.length}` : m.type));
    expect(toN2).toEqual([
      'append prev=3 entries=0',
      'append prev=1 entries=2',
      'append prev=3 entries=0',
      'timeoutNow',
    ]);
    expect(c.leaderIds()).toEqual(['n2']);
    expect(c.get('n2').raft.status()).toMatchObject({ term: 2, commit: 4 });
    expect(c.appliedTexts('n2')).toEqual(['a', 'b']);
  });

  it('the leader refuses proposals while a transfer is in progress', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.isolate('n3');

    c.get('n1').raft.transferLeadership('n3');
    const res = c.propose('n1', 'x');

    expect(res).toEqual({ ok: false, reason: 'transferring', leader: 'n1' });
    expect(c.get('n1').raft.status()).toMatchObject({ role: 'leader', transferee: 'n3', lastIndex: 1 });
  });

  it('a transfer that does not complete within an election timeout is aborted and proposals are taken again', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.isolate('n3');
    c.get('n1').raft.transferLeadership('n3');

    c.tickAll(c.config.electionTicks - 1);
    const before = { status: c.get('n1').raft.status(), res: c.propose('n1', 'early') };
    c.tickAll(1);
    const after = { status: c.get('n1').raft.status(), res: c.propose('n1', 'late') };

    expect(before.status).toMatchObject({ role: 'leader', transferee: 'n3' });
    expect(before.res).toEqual({ ok: false, reason: 'transferring', leader: 'n1' });
    expect(after.status).toMatchObject({ role: 'leader', term: 1, transferee: null });
    expect(after.res).toEqual({ ok: true, index: 2, term: 1 });
    expect(c.appliedTexts('n2')).toEqual(['late']);
  });

  it('a transfer is refused by a follower, to the leader itself, to a non-member and while another runs', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.isolate('n3');
    const n1 = c.get('n1').raft;

    expect(c.get('n2').raft.transferLeadership('n3')).toEqual({ ok: false, reason: 'notLeader' });
    expect(n1.transferLeadership('n1')).toEqual({ ok: false, reason: 'self' });
    expect(n1.transferLeadership('n9')).toEqual({ ok: false, reason: 'unknownMember' });
    expect(n1.transferLeadership('n3')).toEqual({ ok: true });
    expect(n1.transferLeadership('n2')).toEqual({ ok: false, reason: 'transferring' });
    expect(n1.status().transferee).toBe('n3');
  });
});
