/**
 * Log compaction and InstallSnapshot (§7): a follower that needs entries the leader compacted
 * away gets the snapshot instead; late or repeated snapshots never take a follower backwards.
 */

import { describe, expect, it } from 'vitest';
import type { Message } from '../../../src/raft/types.js';
import { bytes, drain, logOf, lone, positions, TestCluster, text } from './cluster.js';

const voters = ['n1', 'n2', 'n3'];
type SnapshotMessage = Extract<Message, { type: 'snapshot' }>;

/** n3 misses `texts` while cut off; n1 then compacts everything it applied. Returns the compaction index. */
function missAndCompact(c: TestCluster, texts: readonly string[]): number {
  c.isolate('n3');
  for (const s of texts) c.propose('n1', s);
  const applied = c.get('n1').raft.status().applied;
  c.compact('n1', applied, bytes(`state@${applied}`));
  c.heal();
  return applied;
}

const snapshotsOf = (c: TestCluster, id: string) =>
  c.get(id).readys.flatMap((rd) => (rd.snapshot === null ? [] : [rd.snapshot]));

describe('§7 log compaction', () => {
  it('the leader sends its snapshot to a follower that lags behind the compacted log; the follower installs it, then applies what follows', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    const index = missAndCompact(c, ['a', 'b', 'c']);
    c.isolate('n3');
    c.propose('n1', 'd');
    c.heal();

    c.tickAll(1);

    const snapshot = { meta: { index: 4, term: 1, voters, learners: [] }, data: bytes('state@4') };
    expect(index).toBe(4);
    expect(c.get('n1').raft.logView().snapshot).toEqual(snapshot.meta);
    expect(c.deliveredOf('snapshot').map((m) => [m.to, m.snapshot])).toEqual([['n3', snapshot]]);
    expect(snapshotsOf(c, 'n3')).toEqual([snapshot]);
    const n3 = c.get('n3');
    expect(n3.installed).toEqual(snapshot);
    expect(n3.durable.snapshot).toEqual(snapshot);
    expect(positions(n3.durable.entries)).toEqual(['5:1']);
    expect(positions(n3.applied)).toEqual(['1:1', '5:1']);
    expect(n3.raft.status()).toMatchObject({ commit: 5, applied: 5, snapshotIndex: 4, lastIndex: 5 });
    expect(c.deliveredOf('appendReply', { from: 'n3' }).at(-1)).toMatchObject({ ok: true, index: 5 });
  });

  it('once the follower answers the snapshot, the leader replicates to it in pipelined (replicate) state', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    missAndCompact(c, ['a', 'b']);
    c.tickAll(1);
    const progress = c
      .get('n1')
      .raft.followers()
      .find((f) => f.id === 'n3');
    c.cut('n3', 'n1');
    const seen = c.delivered.length;

    c.propose('n1', 'e');
    c.propose('n1', 'f');

    // In probe state the leader would wait for an answer after 'e'; in replicate it sends both.
    const appends = c.delivered
      .slice(seen)
      .filter((m): m is Extract<Message, { type: 'append' }> => m.type === 'append' && m.to === 'n3')
      .filter((m) => m.entries.length > 0);
    expect(progress).toEqual({ id: 'n3', match: 3, next: 4, state: 'replicate', learner: false });
    expect(appends.map((m) => m.entries.map(text))).toEqual([['e'], ['f']]);
  });

  it('a snapshot that arrives late, or twice, is answered with the commit index and changes nothing', () => {
    const c = new TestCluster(voters);
    const sent: SnapshotMessage[] = [];
    c.observe((e) => {
      if (e.kind === 'deliver' && e.msg.type === 'snapshot') sent.push(e.msg);
    });
    c.elect('n1');
    missAndCompact(c, ['a', 'b']);
    c.tickAll(1);
    missAndCompact(c, ['c', 'd']);
    c.tickAll(1);
    const n3 = c.get('n3');
    const before = { status: n3.raft.status(), applied: positions(n3.applied), readys: n3.readys.length };

    for (const m of [sent[0]!, sent[1]!, sent[1]!]) n3.raft.step(m);
    c.stabilize();

    expect(sent.map((m) => m.snapshot.meta.index)).toEqual([3, 5]);
    expect(before.status).toMatchObject({ commit: 5, applied: 5, snapshotIndex: 5 });
    expect(n3.raft.status()).toEqual(before.status);
    expect(positions(n3.applied)).toEqual(before.applied);
    expect(snapshotsOf(c, 'n3').map((s) => s.meta.index)).toEqual([3, 5]);
    const after = n3.readys.slice(before.readys);
    expect(after.map((rd) => rd.snapshot)).toEqual([null]);
    expect(after.flatMap((rd) => rd.messages)).toEqual(
      [1, 2, 3].map(() => ({
        type: 'appendReply',
        from: 'n3',
        to: 'n1',
        term: 1,
        index: 5,
        ok: true,
        hint: null,
      })),
    );
  });

  it('the same snapshot delivered twice before the first is persisted is installed once', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    missAndCompact(c, ['a', 'b']);
    c.filter((m) => m.type !== 'snapshot');
    c.tickAll(1);
    const msg: SnapshotMessage = {
      type: 'snapshot',
      from: 'n1',
      to: 'n3',
      term: 1,
      snapshot: { meta: c.get('n1').raft.logView().snapshot, data: bytes('state@3') },
    };
    c.heal();

    c.get('n3').raft.step(msg);
    c.get('n3').raft.step(msg);
    c.stabilize();

    expect(snapshotsOf(c, 'n3')).toEqual([msg.snapshot]);
    expect(c.get('n3').raft.status()).toMatchObject({ commit: 3, applied: 3, snapshotIndex: 3 });
  });

  it('a late append for entries the follower has already compacted is answered with its commit index', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    for (const s of ['a', 'b', 'c']) c.propose('n1', s);
    c.tickAll(1);
    const late = c
      .deliveredOf('append', { to: 'n3' })
      .find((m) => m.prevIndex === 1 && m.entries.length > 0)!;
    c.compact('n3', 3, bytes('state@3'));
    const n3 = c.get('n3');
    const before = n3.raft.status();

    n3.raft.step(late);
    c.processReady('n3');

    expect(late.entries.map(text)).toEqual(['a']);
    expect(before).toMatchObject({ commit: 4, applied: 4, snapshotIndex: 3 });
    expect(n3.readys.at(-1)?.messages).toEqual([
      { type: 'appendReply', from: 'n3', to: 'n1', term: 1, index: 4, ok: true, hint: null },
    ]);
    expect(n3.raft.status()).toEqual(before);
  });

  it('if the follower receives a snapshot describing a prefix of its log, it keeps the entries following it', () => {
    const c = new TestCluster(voters);
    c.elect('n1');
    // n3 gets the entries but no later message telling it they committed.
    c.filter(
      (m) => !(m.to === 'n3' && (m.type === 'heartbeat' || (m.type === 'append' && m.entries.length === 0))),
    );
    c.propose('n1', 'a');
    c.propose('n1', 'b');
    const n3 = c.get('n3');
    const held = { log: positions(n3.raft.logView().entries), status: n3.raft.status() };
    c.compact('n1', 3, bytes('state@3'));
    const snapshot = { meta: { index: 3, term: 1, voters, learners: [] }, data: bytes('state@3') };

    n3.raft.step({ type: 'snapshot', from: 'n1', to: 'n3', term: 1, snapshot });
    c.stabilize();

    expect(held).toMatchObject({ log: ['1:1', '2:1', '3:1'], status: { commit: 2 } });
    expect(snapshotsOf(c, 'n3')).toEqual([]);
    expect(positions(n3.raft.logView().entries)).toEqual(['1:1', '2:1', '3:1']);
    expect(n3.raft.status()).toMatchObject({ commit: 3, applied: 3, snapshotIndex: 0, lastIndex: 3 });
    expect(c.appliedTexts('n3')).toEqual(['a', 'b']);
    expect(c.deliveredOf('appendReply', { from: 'n3' }).at(-1)).toMatchObject({ ok: true, index: 3 });
  });

  it('a snapshot that arrives while the previous Ready is being persisted comes in the next Ready, after it', () => {
    const n2 = lone('n2', voters);
    n2.step({
      type: 'append',
      from: 'n1',
      to: 'n2',
      term: 1,
      prevIndex: 0,
      prevTerm: 0,
      entries: logOf([1, 1, 1]),
      commit: 2,
    });
    const first = n2.ready();
    const snapshot = { meta: { index: 5, term: 1, voters, learners: [] }, data: bytes('state@5') };

    n2.step({ type: 'snapshot', from: 'n1', to: 'n2', term: 1, snapshot });
    n2.advance(first);
    const second = drain(n2);
    n2.step({
      type: 'append',
      from: 'n1',
      to: 'n2',
      term: 1,
      prevIndex: 5,
      prevTerm: 1,
      entries: [{ index: 6, term: 1, kind: 'command', data: bytes('f') }],
      commit: 6,
    });
    const third = drain(n2);

    expect(positions(first.committed)).toEqual(['1:1', '2:1']);
    expect(first.snapshot).toBeNull();
    expect(second.snapshot).toEqual(snapshot);
    expect(second.entries).toEqual([]);
    expect(second.committed).toEqual([]);
    expect(second.hardState).toEqual({ term: 1, vote: null, commit: 5 });
    expect(second.messages).toEqual([
      { type: 'appendReply', from: 'n2', to: 'n1', term: 1, index: 5, ok: true, hint: null },
    ]);
    expect(third.committed.map(text)).toEqual(['f']);
    expect(n2.status()).toMatchObject({ commit: 6, applied: 6, snapshotIndex: 5, lastIndex: 6 });
  });
});
