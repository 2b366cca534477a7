/**
 * Configuration changes one member at a time (thesis §4.1, §4.2, and the rules in conf.ts):
 * configurations take effect on append and travel in snapshots, one change is pending at a time,
 * learners never vote nor count, promotion and removal keep a caught-up majority, a removed leader
 * hands over, and a removed member cannot disrupt the group.
 */

import { describe, expect, it } from 'vitest';
import type { ConfState, NodeId } from '../../../src/raft/types.js';
import { defaultRaftTuning } from '../../../src/raft/types.js';
import { bytes, drain, lone, positions, TestCluster, voteRequest } from './cluster.js';

const voters = ['n1', 'n2', 'n3'];

/** What `id` holds as its configuration, where that configuration is, and its commit index. */
function confOf(c: TestCluster, id: NodeId): { conf: ConfState; confIndex: number; commit: number } {
  const { conf, confIndex, commit } = c.get(id).raft.status();
  return { conf, confIndex, commit };
}

/** Ticks the leader `id` alone, delivering every message after each tick, until it is no longer leader. */
function ticksUntilStepDown(c: TestCluster, id: NodeId, ticksMax: number): number {
  for (let t = 1; t <= ticksMax; t++) {
    c.tick(id);
    c.stabilize();
    if (c.get(id).raft.status().role !== 'leader') return t;
  }
  throw new Error(`${id} still leads after ${ticksMax} ticks`);
}

describe('thesis §4.1 a configuration takes effect on append', () => {
  it('a configuration takes effect on every member as soon as its entry is in its log, before it commits', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.filter((m) => m.type !== 'appendReply');

    const res = c.proposeConfChange('n1', { type: 'remove', node: 'n3' });

    expect(res).toEqual({ ok: true, index: 2, term: 1 });
    for (const id of voters) {
      expect(confOf(c, id)).toEqual({
        conf: { voters: ['n1', 'n2'], learners: [] },
        confIndex: 2,
        commit: 1,
      });
    }
  });

  it('a member whose log loses an uncommitted configuration entry goes back to the configuration before it', () => {
    const five = ['n1', 'n2', 'n3', 'n4', 'n5'];
    // Without leases, n3 can win the majority side at once while n1 still leads the minority.
    const c = new TestCluster(five, { checkQuorum: false });
    c.elect('n1');
    c.partition(['n1', 'n2'], ['n3', 'n4', 'n5']);
    const res = c.proposeConfChange('n1', { type: 'remove', node: 'n5' });
    const held = confOf(c, 'n2');

    c.campaign('n3');
    c.heal();
    c.tickAll(1);

    expect(res).toEqual({ ok: true, index: 2, term: 1 });
    expect(held).toEqual({
      conf: { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] },
      confIndex: 2,
      commit: 1,
    });
    expect(c.leaderIds()).toEqual(['n3']);
    for (const id of five) {
      expect(confOf(c, id)).toEqual({ conf: { voters: five, learners: [] }, confIndex: 0, commit: 2 });
      expect(positions(c.get(id).raft.logView().entries)).toEqual(['1:1', '2:2']);
    }
  });
});

describe('§7 and thesis §4.1 snapshots carry the configuration', () => {
  it('a follower and a new learner restored from a snapshot have its configuration, learners included', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.addMember('n4', { voters, learners: ['n4'] });
    c.partition(['n1', 'n2'], ['n3', 'n4']);
    const added = c.proposeConfChange('n1', { type: 'addLearner', node: 'n4' });
    c.propose('n1', 'a');
    c.compact('n1', 3, bytes('state@3'));
    c.heal();

    c.tickAll(1);

    const conf = { voters, learners: ['n4'] };
    const snapshot = { meta: { index: 3, term: 1, ...conf }, data: bytes('state@3') };
    expect(added).toEqual({ ok: true, index: 2, term: 1 });
    expect(c.deliveredOf('snapshot').map((m) => [m.to, m.snapshot])).toEqual([
      ['n4', snapshot],
      ['n3', snapshot],
    ]);
    for (const id of ['n3', 'n4']) {
      expect(c.get(id).installed).toEqual(snapshot);
      expect(confOf(c, id)).toEqual({ conf, confIndex: 3, commit: 3 });
    }
    expect(
      c
        .get('n1')
        .raft.followers()
        .find((f) => f.id === 'n4'),
    ).toEqual({
      id: 'n4',
      match: 3,
      next: 4,
      state: 'replicate',
      learner: true,
    });
  });

  it('a member restarted from its persisted log or from a compacted snapshot has the configuration they hold', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.addMember('n4', { voters, learners: ['n4'] });
    c.proposeConfChange('n1', { type: 'addLearner', node: 'n4' });
    c.propose('n1', 'a');
    c.tickAll(1);
    c.compact('n2', 3, bytes('state@3'));

    c.restart('n1');
    c.restart('n2');

    const conf = { voters, learners: ['n4'] };
    expect(confOf(c, 'n1')).toEqual({ conf, confIndex: 2, commit: 3 });
    expect(confOf(c, 'n2')).toEqual({ conf, confIndex: 3, commit: 3 });
    expect(c.get('n2').raft.logView().snapshot).toEqual({ index: 3, term: 1, ...conf });
  });
});

describe('thesis §4.1 one change at a time', () => {
  it('a second change proposed while the first is uncommitted is refused as pending; once it commits, a new one is accepted', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.addMember('n4', { voters, learners: ['n4'] });
    c.filter((m) => m.type !== 'appendReply');

    const first = c.proposeConfChange('n1', { type: 'addLearner', node: 'n4' });
    const second = c.proposeConfChange('n1', { type: 'remove', node: 'n3' });
    c.heal();
    c.tickAll(1);
    const third = c.proposeConfChange('n1', { type: 'remove', node: 'n3' });

    expect(first).toEqual({ ok: true, index: 2, term: 1 });
    expect(second).toEqual({ ok: false, reason: 'pending', leader: 'n1' });
    expect(third).toEqual({ ok: true, index: 3, term: 1 });
    expect(confOf(c, 'n1')).toEqual({
      conf: { voters: ['n1', 'n2'], learners: ['n4'] },
      confIndex: 3,
      commit: 3,
    });
  });

  it('a new leader cannot propose a change before it has committed an entry of its own term, and can once its no-op commits', () => {
    const c = new TestCluster(voters);
    c.filter((m) => m.type !== 'appendReply');
    c.elect('n1');

    const early = c.proposeConfChange('n1', { type: 'remove', node: 'n3' });
    const status = c.get('n1').raft.status();
    c.heal();
    c.tickAll(1);
    const late = c.proposeConfChange('n1', { type: 'remove', node: 'n3' });

    expect(status).toMatchObject({ role: 'leader', term: 1, commit: 0, lastIndex: 1 });
    expect(early).toEqual({ ok: false, reason: 'pending', leader: 'n1' });
    expect(late).toEqual({ ok: true, index: 2, term: 1 });
  });
});

describe('thesis §4.2.1 learners (non-voting members) receive the log but never vote', () => {
  it('a learner receives and applies entries, and never campaigns however many ticks pass or when told TimeoutNow', () => {
    const c = new TestCluster(voters, { learners: ['n4'] });
    c.elect('n1');
    c.propose('n1', 'a');
    c.isolate('n1');
    const seen = c.get('n4').readys.length;

    c.tick('n4', 20 * c.config.electionTicks);
    c.get('n4').raft.step({ type: 'timeoutNow', from: 'n1', to: 'n4', term: 1 });
    c.stabilize();

    expect(c.appliedTexts('n4')).toEqual(['a']);
    expect(c.get('n4').raft.status()).toMatchObject({ role: 'follower', term: 1, vote: null, commit: 2 });
    expect(
      c
        .get('n4')
        .readys.slice(seen)
        .flatMap((rd) => rd.messages),
    ).toEqual([]);
  });

  it('an entry acknowledged by the leader and learners only does not commit, though they are a majority of all members', () => {
    const c = new TestCluster(voters, { learners: ['n4', 'n5'] });
    c.elect('n1');
    c.partition(['n1', 'n4', 'n5'], ['n2', 'n3']);

    const res = c.propose('n1', 'x');
    const held = c
      .get('n1')
      .raft.followers()
      .map((f) => [f.id, f.match]);
    const cutOff = c.get('n1').raft.status();
    c.heal();
    c.tickAll(1);

    expect(res).toEqual({ ok: true, index: 2, term: 1 });
    expect(held).toEqual([
      ['n2', 1],
      ['n3', 1],
      ['n4', 2],
      ['n5', 2],
    ]);
    expect(cutOff).toMatchObject({ role: 'leader', commit: 1, lastIndex: 2 });
    expect(c.get('n1').raft.status()).toMatchObject({ role: 'leader', commit: 2 });
    for (const id of ['n1', 'n2', 'n3', 'n4', 'n5']) expect(c.appliedTexts(id)).toEqual(['x']);
  });

  it('check-quorum: a leader that hears only from learners steps down', () => {
    const c = new TestCluster(voters, { learners: ['n4', 'n5'] });
    c.elect('n1');
    c.partition(['n1', 'n4', 'n5'], ['n2', 'n3']);
    const seen = c.delivered.length;

    const ticks = ticksUntilStepDown(c, 'n1', 3 * c.config.electionTicks);
    const replies = c.delivered.slice(seen).filter((m) => m.type === 'heartbeatReply');

    // The first check counts the answers to the no-op; the second finds only learners, who
    // answered the heartbeat of every tick before it.
    expect(ticks).toBe(2 * c.config.electionTicks);
    expect(replies.length).toBe(2 * (ticks - 1));
    expect(new Set(replies.map((m) => m.from))).toEqual(new Set(['n4', 'n5']));
    expect(c.get('n1').raft.status()).toMatchObject({ role: 'follower', term: 1, leader: null });
  });

  it('a ReadIndex round is not confirmed by learners answering its heartbeat', () => {
    const c = new TestCluster(voters, { learners: ['n4', 'n5'] });
    c.elect('n1');
    c.partition(['n1', 'n4', 'n5'], ['n2', 'n3']);

    c.get('n1').raft.readIndex('r1');
    c.stabilize();
    const answers = c.deliveredOf('heartbeatReply', { to: 'n1' }).map((m) => [m.from, m.read]);
    const waiting = [...c.get('n1').readStates];
    c.heal();
    c.tickAll(1);

    expect(answers).toEqual([
      ['n4', 1],
      ['n5', 1],
    ]);
    expect(waiting).toEqual([]);
    expect(c.get('n1').readStates).toEqual([{ ctx: 'r1', index: 1 }]);
  });

  it('leadership cannot be transferred to a learner', () => {
    const c = new TestCluster(voters, { learners: ['n4'] });
    c.elect('n1');

    const res = c.get('n1').raft.transferLeadership('n4');

    expect(res).toEqual({ ok: false, reason: 'unknownMember' });
    expect(c.get('n1').raft.status()).toMatchObject({ role: 'leader', transferee: null });
  });
});

describe('thesis §4.2.1 adding and promoting a member', () => {
  it('a new member added as a learner catches up on the whole log, then once promoted counts towards commitment', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.propose('n1', 'a');
    c.addMember('n4', { voters, learners: ['n4'] });

    const added = c.proposeConfChange('n1', { type: 'addLearner', node: 'n4' });
    const asLearner = { applied: c.appliedTexts('n4'), conf: confOf(c, 'n4') };
    const promoted = c.proposeConfChange('n1', { type: 'promote', node: 'n4' });
    c.partition(['n1', 'n2'], ['n3', 'n4']);
    c.propose('n1', 'b');
    const withHalf = c.get('n1').raft.status().commit;
    c.heal();
    c.tickAll(1);

    expect(added).toEqual({ ok: true, index: 3, term: 1 });
    expect(asLearner).toEqual({
      applied: ['a'],
      conf: { conf: { voters, learners: ['n4'] }, confIndex: 3, commit: 3 },
    });
    expect(promoted).toEqual({ ok: true, index: 4, term: 1 });
    expect(withHalf).toBe(4);
    expect(confOf(c, 'n4')).toEqual({
      conf: { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] },
      confIndex: 4,
      commit: 5,
    });
    expect(c.appliedTexts('n4')).toEqual(['a', 'b']);
    expect(
      c
        .get('n1')
        .raft.followers()
        .map((f) => [f.id, f.learner]),
    ).toEqual([
      ['n2', false],
      ['n3', false],
      ['n4', false],
    ]);
  });

  it('promote refuses a learner more than promoteLagMax entries behind, and accepts it once caught up', () => {
    const c = new TestCluster(voters, { learners: ['n4'], promoteLagMax: 2 });
    c.elect('n1');
    c.isolate('n4');
    for (const s of ['a', 'b', 'c']) c.propose('n1', s);

    const behind = c.proposeConfChange('n1', { type: 'promote', node: 'n4' });
    c.heal();
    c.tickAll(1);
    const caughtUp = c.proposeConfChange('n1', { type: 'promote', node: 'n4' });

    expect(behind).toEqual({ ok: false, reason: 'learnerBehind', leader: 'n1' });
    expect(caughtUp).toEqual({ ok: true, index: 5, term: 1 });
    expect(confOf(c, 'n4')).toEqual({
      conf: { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] },
      confIndex: 5,
      commit: 5,
    });
  });

  it('promote of a voter is refused as alreadyMember, and of a non-member as notLearner', () => {
    const c = new TestCluster(voters, { learners: ['n4'] });
    c.elect('n1');

    const voter = c.proposeConfChange('n1', { type: 'promote', node: 'n2' });
    const stranger = c.proposeConfChange('n1', { type: 'promote', node: 'n9' });
    const learner = c.proposeConfChange('n1', { type: 'addLearner', node: 'n4' });

    expect(voter).toEqual({ ok: false, reason: 'alreadyMember', leader: 'n1' });
    expect(stranger).toEqual({ ok: false, reason: 'notLearner', leader: 'n1' });
    expect(learner).toEqual({ ok: false, reason: 'alreadyMember', leader: 'n1' });
    expect(c.get('n1').raft.status()).toMatchObject({ lastIndex: 1, confIndex: 0 });
  });

  it('a change is refused by a follower as notLeader', () => {
    const c = new TestCluster(voters);
    c.elect('n1');

    expect(c.proposeConfChange('n2', { type: 'remove', node: 'n3' })).toEqual({
      ok: false,
      reason: 'notLeader',
      leader: 'n1',
    });
  });
});

describe('thesis §4.2.2, §4.2.3 removing a member', () => {
  it('a removed voter stops counting as soon as the removal is appended: the leader and the removed voter alone do not commit it', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.isolate('n2');

    const res = c.proposeConfChange('n1', { type: 'remove', node: 'n3' });
    const withoutN2 = {
      n1: confOf(c, 'n1'),
      n3Match: c
        .get('n1')
        .raft.followers()
        .find((f) => f.id === 'n3')?.match,
    };
    c.heal();
    c.tickAll(1);

    expect(res).toEqual({ ok: true, index: 2, term: 1 });
    expect(withoutN2).toEqual({
      n1: { conf: { voters: ['n1', 'n2'], learners: [] }, confIndex: 2, commit: 1 },
      n3Match: 2,
    });
    expect(confOf(c, 'n1').commit).toBe(2);
  });

  it('once a voter is removed, a majority of the remaining voters commits without it', () => {
    const four = ['n1', 'n2', 'n3', 'n4'];
    const c = new TestCluster(four);
    c.elect('n1');
    c.proposeConfChange('n1', { type: 'remove', node: 'n4' });
    c.partition(['n1', 'n2'], ['n3', 'n4']);

    const res = c.propose('n1', 'x');

    expect(res).toEqual({ ok: true, index: 3, term: 1 });
    expect(confOf(c, 'n1')).toEqual({
      conf: { voters: ['n1', 'n2', 'n3'], learners: [] },
      confIndex: 2,
      commit: 3,
    });
    expect(c.appliedTexts('n2')).toEqual(['x']);
  });

  it('removing the last voter is refused as noVoterLeft; removing a learner or a non-member is not', () => {
    const c = new TestCluster(['n1'], { learners: ['n2'] });
    c.elect('n1');

    const last = c.proposeConfChange('n1', { type: 'remove', node: 'n1' });
    const stranger = c.proposeConfChange('n1', { type: 'remove', node: 'n9' });
    const learner = c.proposeConfChange('n1', { type: 'remove', node: 'n2' });

    expect(last).toEqual({ ok: false, reason: 'noVoterLeft', leader: 'n1' });
    expect(stranger).toEqual({ ok: false, reason: 'notMember', leader: 'n1' });
    expect(learner).toEqual({ ok: true, index: 2, term: 1 });
    expect(confOf(c, 'n1')).toEqual({ conf: { voters: ['n1'], learners: [] }, confIndex: 2, commit: 2 });
  });

  it('a removal that would leave fewer caught-up voters than a quorum is refused as quorumAtRisk', () => {
    const c = new TestCluster(voters, { promoteLagMax: 2 });
    c.elect('n1');
    c.isolate('n3');
    for (const s of ['a', 'b', 'c']) c.propose('n1', s);

    const keepsLagging = c.proposeConfChange('n1', { type: 'remove', node: 'n2' });
    const dropsLagging = c.proposeConfChange('n1', { type: 'remove', node: 'n3' });

    expect(keepsLagging).toEqual({ ok: false, reason: 'quorumAtRisk', leader: 'n1' });
    expect(dropsLagging).toEqual({ ok: true, index: 5, term: 1 });
    expect(confOf(c, 'n1')).toEqual({
      conf: { voters: ['n1', 'n2'], learners: [] },
      confIndex: 5,
      commit: 5,
    });
  });

  it('a promotion that would leave fewer caught-up voters than a quorum is refused as quorumAtRisk', () => {
    const c = new TestCluster(voters, { learners: ['n4'], promoteLagMax: 2 });
    c.elect('n1');
    c.partition(['n1', 'n4'], ['n2', 'n3']);
    for (const s of ['a', 'b', 'c']) c.propose('n1', s);

    const res = c.proposeConfChange('n1', { type: 'promote', node: 'n4' });

    // Four voters need three caught up; only n1 and n4 are.
    expect(
      c
        .get('n1')
        .raft.followers()
        .map((f) => [f.id, f.match]),
    ).toEqual([
      ['n2', 1],
      ['n3', 1],
      ['n4', 4],
    ]);
    expect(res).toEqual({ ok: false, reason: 'quorumAtRisk', leader: 'n1' });
  });

  it('a member removed learns that its removal committed from one last append, then hears nothing more', () => {
    const c = new TestCluster(voters);
    c.elect('n1');

    const res = c.proposeConfChange('n1', { type: 'remove', node: 'n3' });
    const last = c.deliveredOf('append', { to: 'n3' }).at(-1);
    c.propose('n1', 'x');
    c.tickAll(c.config.electionTicks);

    expect(res).toEqual({ ok: true, index: 2, term: 1 });
    expect(last).toMatchObject({ prevIndex: 2, entries: [], commit: 2 });
    expect(confOf(c, 'n3')).toEqual({
      conf: { voters: ['n1', 'n2'], learners: [] },
      confIndex: 2,
      commit: 2,
    });
    expect(c.get('n3').raft.status()).toMatchObject({ role: 'follower', term: 1, lastIndex: 2 });
    expect(c.deliveredOf('append', { to: 'n3' }).at(-1)).toEqual(last);
    expect(
      c
        .get('n1')
        .raft.followers()
        .map((f) => f.id),
    ).toEqual(['n2']);
  });

  it('a new leader commits the removal its predecessor left pending with its no-op, and the removed member hears that it committed', () => {
    const five = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const c = new TestCluster(five, { checkQuorum: false });
    c.elect('n1');
    c.filter((m) => m.type !== 'appendReply');
    const res = c.proposeConfChange('n1', { type: 'remove', node: 'n5' });
    c.heal();
    c.isolate('n1');

    c.campaign('n2');
    const toN5 = c.deliveredOf('append', { from: 'n2', to: 'n5' }).map((m) => [m.prevIndex, m.commit]);
    const held = ['n3', 'n4', 'n5'].map((id) => confOf(c, id));
    const next = c.proposeConfChange('n2', { type: 'remove', node: 'n4' });

    expect(res).toEqual({ ok: true, index: 2, term: 1 });
    expect(c.leaderIds()).toEqual(['n1', 'n2']);
    expect(toN5).toEqual([
      [2, 1],
      [2, 3],
    ]);
    const removed = { conf: { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] }, confIndex: 2, commit: 3 };
    expect(held).toEqual([removed, removed, removed]);
    expect(next).toEqual({ ok: true, index: 4, term: 2 });
    expect(
      c
        .get('n2')
        .raft.followers()
        .map((f) => f.id),
    ).toEqual(['n1', 'n3']);
  });

  it('a removed member whose appends are all in flight (a full window) still gets the last append that commits its removal', () => {
    const c = new TestCluster(voters, { inflightMax: 1 });
    c.elect('n1');
    c.cut('n3', 'n1');

    const res = c.proposeConfChange('n1', { type: 'remove', node: 'n3' });

    expect(res).toEqual({ ok: true, index: 2, term: 1 });
    expect(
      c
        .deliveredOf('append', { to: 'n3' })
        .slice(-2)
        .map((m) => [m.prevIndex, m.entries.length, m.commit]),
    ).toEqual([
      [1, 1, 1],
      [2, 0, 2],
    ]);
    expect(confOf(c, 'n3')).toEqual({
      conf: { voters: ['n1', 'n2'], learners: [] },
      confIndex: 2,
      commit: 2,
    });
    expect(
      c
        .get('n1')
        .raft.followers()
        .map((f) => f.id),
    ).toEqual(['n2']);
  });

  it('a member whose configuration is stale ignores a non-member only while it hears its leader', () => {
    // n2's log does not have it as a voter (it missed its own promotion) nor n4 (the candidate the
    // group elects now); n2 cannot campaign. Once its leader is silent for an election timeout,
    // it must answer n4, or a group that needs n2's vote could never elect anyone.
    const n2 = lone('n2', ['n1', 'n3']);
    n2.step({ type: 'heartbeat', from: 'n1', to: 'n2', term: 1, commit: 0, read: 0 });
    drain(n2);
    n2.step(voteRequest('n4', 'n2', 2, { index: 0, term: 0 }));
    const whileHeard = drain(n2).messages;
    for (let t = 0; t < defaultRaftTuning.electionTicks; t++) n2.tick();
    n2.step(voteRequest('n4', 'n2', 2, { index: 0, term: 0 }));
    const afterSilence = drain(n2).messages;
    expect({ whileHeard, afterSilence }).toEqual({
      whileHeard: [],
      afterSilence: [{ type: 'voteReply', from: 'n2', to: 'n4', term: 2, pre: false, granted: true }],
    });
  });

  it('a removed member cannot disrupt: its vote requests at higher terms, pre-vote or not, are ignored and the leader stays', () => {
    const c = new TestCluster(voters, { preVote: false, checkQuorum: false });
    c.elect('n1');
    c.isolate('n3');
    const res = c.proposeConfChange('n1', { type: 'remove', node: 'n3' });
    c.tick('n3', 5 * c.config.electionTicks);
    c.stabilize();
    const ranAhead = c.get('n3').raft.status().term;
    c.heal();

    c.tickAll(4 * c.config.electionTicks);
    const n2 = c.get('n2').raft;
    const last = { index: 2, term: 1 };
    n2.step(voteRequest('n3', 'n2', ranAhead + 1, last, { pre: true, transfer: true }));
    n2.step(voteRequest('n3', 'n2', ranAhead + 1, last, { transfer: true }));

    expect(res).toEqual({ ok: true, index: 2, term: 1 });
    expect(ranAhead).toBeGreaterThan(3);
    expect(c.deliveredOf('requestVote', { from: 'n3' }).every((m) => m.term > ranAhead)).toBe(true);
    expect(c.deliveredOf('requestVote', { from: 'n3' }).length).toBeGreaterThan(0);
    expect(c.deliveredOf('voteReply', { to: 'n3' })).toEqual([]);
    expect(n2.hasReady()).toBe(false);
    expect(c.leaderIds()).toEqual(['n1']);
    for (const id of ['n1', 'n2']) expect(c.get(id).raft.status()).toMatchObject({ term: 1, leader: 'n1' });
  });

  it('a leader that removes itself leads until the removal commits without counting itself, then hands over and never campaigns again', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    c.isolate('n3');

    const res = c.proposeConfChange('n1', { type: 'remove', node: 'n1' });
    const seen = c.delivered.length;
    const pending = c.get('n1').raft.status();
    const x = c.propose('n1', 'x');
    c.heal();
    c.tickAll(1);
    const handedOver = c.get('n1').raft.status();
    c.tickAll(20 * c.config.electionTicks);

    expect(res).toEqual({ ok: true, index: 2, term: 1 });
    expect(pending).toMatchObject({
      role: 'leader',
      commit: 1,
      conf: { voters: ['n2', 'n3'], learners: [] },
      confIndex: 2,
    });
    expect(x).toEqual({ ok: true, index: 3, term: 1 });
    expect(handedOver).toMatchObject({ role: 'follower', term: 1, leader: null, commit: 3 });
    expect(c.deliveredOf('timeoutNow')).toEqual([{ type: 'timeoutNow', from: 'n1', to: 'n2', term: 1 }]);
    expect(c.delivered.slice(seen).filter((m) => m.type === 'requestVote' && m.from === 'n1')).toEqual([]);
    expect(c.leaderIds()).toEqual(['n2']);
    for (const id of ['n2', 'n3']) {
      expect(c.get(id).raft.status()).toMatchObject({ term: 2, leader: 'n2', commit: 4 });
      expect(c.appliedTexts(id)).toEqual(['x']);
    }
    expect(c.get('n1').raft.status()).toMatchObject({ role: 'follower', term: 1, commit: 3 });
  });
});
