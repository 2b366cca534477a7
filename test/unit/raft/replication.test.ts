/**
 * Log replication (§5.3) and safety of commitment (§5.4): log matching, the conflict hint, the
 * bounded pipeline, batching, overload, follower commit and persist-before-send.
 */

import { describe, expect, it } from 'vitest';
import { RaftInvariantError } from '../../../src/raft/invariant.js';
import type { Message } from '../../../src/raft/types.js';
import { bytes, drain, lone, positions, TestCluster, text, voteRequest } from './cluster.js';

/** The paper's algorithm without pre-vote and check-quorum: no leases, so campaign() needs no waiting. */
const basic = { preVote: false, checkQuorum: false };

const voteRequestFrom = (from: string, term: number) => voteRequest(from, 'n1', term, { index: 0, term: 0 });

const isAppendWithEntries = (m: Message) => m.type === 'append' && m.entries.length > 0;

describe('§5.3 log replication', () => {
  it('the leader handles inconsistencies by forcing the followers’ logs to duplicate its own', () => {
    const c = new TestCluster(['n1', 'n2', 'n3', 'n4', 'n5'], basic);
    c.campaign('n1');
    c.partition(['n1', 'n2'], ['n3', 'n4', 'n5']);
    c.propose('n1', 'x1');
    c.propose('n1', 'x2');
    c.campaign('n3');
    c.propose('n3', 'y1');

    c.heal();
    c.tickAll(2 * c.config.electionTicks);

    const leaderLog = c.get('n3').raft.logView().entries;
    expect(positions(leaderLog)).toEqual(['1:1', '2:2', '3:2']);
    for (const m of c.members.values()) {
      expect(m.raft.logView().entries).toEqual(leaderLog);
      expect(m.raft.status()).toMatchObject({ term: 2, leader: 'n3', commit: 3, applied: 3 });
      expect(c.appliedTexts(m.id)).toEqual(['y1']);
    }
  });

  it('the conflict hint lets the leader bypass all of the conflicting entries in a term with one rejection', () => {
    const c = new TestCluster(['n1', 'n2', 'n3', 'n4', 'n5'], basic);
    c.campaign('n1');
    // Term 1: twenty entries reach n5 only and never commit.
    c.partition(['n1', 'n5'], ['n2', 'n3', 'n4']);
    for (let k = 0; k < 20; k++) c.propose('n1', `old${k}`);
    // Term 2: n2 commits eleven entries (its no-op and ten commands) with n3 and n4.
    c.campaign('n2');
    for (let k = 0; k < 10; k++) c.propose('n2', `new${k}`);
    c.heal();
    c.isolate('n1');
    c.isolate('n2');
    const seen = c.delivered.length;

    // Term 3: n3 wins with n4 and n5 (whose last term is older) and meets n5's long tail of term 1.
    c.campaign('n3');

    const exchange = c.delivered
      .slice(seen)
      .filter((m) => (m.from === 'n3' && m.to === 'n5') || (m.from === 'n5' && m.to === 'n3'))
      .filter((m) => m.type === 'append' || m.type === 'appendReply')
      .slice(0, 4)
      .map((m) =>
        m.type === 'append'
          ? `append prev=${m.prevIndex}:${m.prevTerm} entries=${m.entries.length}`
          : `reply ok=${m.ok} index=${m.index} hint=${JSON.stringify(m.hint)}`,
      );
    expect(positions(c.get('n5').raft.logView().entries).slice(0, 3)).toEqual(['1:1', '2:2', '3:2']);
    expect(exchange).toEqual([
      'append prev=12:2 entries=1',
      'reply ok=false index=12 hint={"index":1,"term":1}',
      'append prev=1:1 entries=12',
      'reply ok=true index=13 hint=null',
    ]);
    expect(c.get('n5').raft.logView().entries).toEqual(c.get('n3').raft.logView().entries);
  });

  it('a leader in replicate state keeps at most inflightMax appends outstanding to a follower that does not answer', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], { inflightMax: 3 });
    c.elect('n1');
    c.cut('n3', 'n1');
    const seen = c.delivered.length;

    for (let k = 0; k < 8; k++) c.propose('n1', `p${k}`);

    const toN3 = c.delivered.slice(seen).filter((m) => m.type === 'append' && m.to === 'n3');
    const withEntries = toN3.filter(isAppendWithEntries);
    expect(withEntries.map((m) => (m.type === 'append' ? positions(m.entries) : []))).toEqual([
      ['2:1'],
      ['3:1'],
      ['4:1'],
    ]);
    expect(toN3.at(-1)).toBe(withEntries.at(-1));
    expect(c.get('n3').raft.status().lastIndex).toBe(4);
    expect(c.get('n1').raft.status().commit).toBe(9);

    c.heal();
    c.tickAll(1);

    expect(c.get('n3').raft.status()).toMatchObject({ lastIndex: 9, commit: 9 });
  });

  it('entries are batched up to batchBytesMax per append, and an append carries at least one entry', () => {
    // Each 20-byte command counts 36 bytes: two fit in 100, three do not.
    const c = new TestCluster(['n1', 'n2', 'n3'], { batchBytesMax: 100 });
    c.elect('n1');
    c.isolate('n3');
    for (let k = 0; k < 5; k++) c.propose('n1', `command-${k}`.padEnd(20, '.'));
    c.propose('n1', 'x'.repeat(200));
    c.heal();
    const seen = c.delivered.length;

    c.tickAll(1);

    const batches = c.delivered
      .slice(seen)
      .filter((m) => m.to === 'n3' && isAppendWithEntries(m))
      .map((m) => (m.type === 'append' ? positions(m.entries) : []));
    expect(batches).toEqual([['2:1', '3:1'], ['4:1', '5:1'], ['6:1'], ['7:1']]);
    expect(c.appliedTexts('n3').at(-1)).toBe('x'.repeat(200));
  });

  it('a leader refuses proposals as overloaded once uncommittedEntriesMax entries wait for commitment', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], { uncommittedEntriesMax: 3 });
    c.elect('n1');
    c.isolate('n1');

    const results = ['a', 'b', 'c', 'd'].map((s) => c.propose('n1', s));
    c.heal();
    c.tickAll(1);
    const after = c.propose('n1', 'e');

    expect(results).toEqual([
      { ok: true, index: 2, term: 1 },
      { ok: true, index: 3, term: 1 },
      { ok: true, index: 4, term: 1 },
      { ok: false, reason: 'overloaded', leader: 'n1' },
    ]);
    expect(after).toEqual({ ok: true, index: 5, term: 1 });
  });
});

describe('§5.4 safety of commitment', () => {
  it('a follower never commits past what it holds in agreement with the leader: heartbeats carry min(match, commit)', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], { preVote: false });
    c.elect('n1');
    c.filter((m) => !(m.type === 'append' && m.to === 'n3'));
    c.propose('n1', 'a');
    c.propose('n1', 'b');
    const seen = c.delivered.length;

    c.tickAll(3);

    const heartbeats = c.delivered.slice(seen).filter((m) => m.type === 'heartbeat');
    expect(heartbeats.map((m) => (m.type === 'heartbeat' ? `${m.to} commit=${m.commit}` : ''))).toEqual([
      'n2 commit=3',
      'n3 commit=1',
      'n2 commit=3',
      'n3 commit=1',
      'n2 commit=3',
      'n3 commit=1',
    ]);
    expect(c.get('n3').raft.status()).toMatchObject({ commit: 1, lastIndex: 1 });
  });

  it('a follower holding a stale entry at the commit index does not commit it from a heartbeat', () => {
    const c = new TestCluster(['n1', 'n2', 'n3', 'n4', 'n5'], basic);
    c.campaign('n1');
    // Term 1: 'stale' at index 2 reaches n5 only.
    c.partition(['n1', 'n5'], ['n2', 'n3', 'n4']);
    c.propose('n1', 'stale');
    c.isolate('n1');
    c.campaign('n2');
    c.propose('n2', 'fresh');
    // n5 rejoins but hears only heartbeats from n2, whose index 2 (term 2) differs from its own.
    c.heal();
    c.isolate('n1');
    c.filter((m) => !(m.type === 'append' && m.to === 'n5'));

    c.tickAll(3);

    const n5 = c.get('n5');
    expect(positions(n5.raft.logView().entries)).toEqual(['1:1', '2:1']);
    expect(n5.raft.status()).toMatchObject({ term: 2, leader: 'n2', commit: 1, applied: 1 });
    expect(positions(n5.applied)).toEqual(['1:1']);
    expect(c.get('n2').raft.status().commit).toBe(3);
  });
});

describe('§5 Figure 2: persistent state is updated on stable storage before responding to RPCs', () => {
  it('a vote reply comes in the same Ready as the hard state that records the vote', () => {
    const n1 = lone('n1', ['n1', 'n2', 'n3']);
    n1.step(voteRequestFrom('n2', 4));

    const rd = n1.ready();

    expect(rd.hardState).toEqual({ term: 4, vote: 'n2', commit: 0 });
    expect(rd.mustSync).toBe(true);
    expect(rd.messages).toEqual([
      { type: 'voteReply', from: 'n1', to: 'n2', term: 4, pre: false, granted: true },
    ]);
  });

  it('an append reply comes in the same Ready as the entries it acknowledges, and not in an earlier one', () => {
    const n2 = lone('n2', ['n1', 'n2', 'n3']);
    const entry = (index: number, s: string) => ({
      index,
      term: 1,
      kind: 'command' as const,
      data: bytes(s),
    });
    const append = (prevIndex: number, entries: ReturnType<typeof entry>[], commit: number): Message => ({
      type: 'append',
      from: 'n1',
      to: 'n2',
      term: 1,
      prevIndex,
      prevTerm: prevIndex === 0 ? 0 : 1,
      entries,
      commit,
    });

    n2.step(append(0, [entry(1, 'a')], 0));
    const first = n2.ready();
    n2.step(append(1, [entry(2, 'b'), entry(3, 'c')], 1));
    n2.advance(first);
    const second = drain(n2);

    expect(first.entries.map(text)).toEqual(['a']);
    expect(first.hardState).toEqual({ term: 1, vote: null, commit: 0 });
    expect(first.messages).toEqual([
      { type: 'appendReply', from: 'n2', to: 'n1', term: 1, index: 1, ok: true, hint: null },
    ]);
    expect(second.entries.map(text)).toEqual(['b', 'c']);
    expect(second.hardState).toEqual({ term: 1, vote: null, commit: 1 });
    expect(second.messages).toEqual([
      { type: 'appendReply', from: 'n2', to: 'n1', term: 1, index: 3, ok: true, hint: null },
    ]);
    expect(second.committed.map(text)).toEqual(['a']);
  });

  it('a leader counts its own log towards a majority only once its entries are persisted (thesis §10.2.1)', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    c.tickAll(1);
    const n1 = c.get('n1').raft;
    n1.propose(bytes('a'));
    const rd = n1.ready();
    const toN2 = rd.messages.filter((m) => m.to === 'n2');

    // n2 persists and acknowledges 'a' while n1 has not yet persisted it: one durable copy of three.
    for (const m of toN2) c.deliver(m);
    c.processReady('n2');
    for (const m of c.takeQueued()) c.deliver(m);
    const beforePersist = n1.status().commit;
    n1.advance(rd);
    const next = drain(n1);

    expect(rd.entries.map(text)).toEqual(['a']);
    expect(beforePersist).toBe(1);
    expect(n1.status().commit).toBe(2);
    expect(next.committed.map(text)).toEqual(['a']);
  });

  it('a group of one commits its own entry as soon as it is persisted', () => {
    const c = new TestCluster(['n1']);
    c.campaign('n1');
    const raft = c.get('n1').raft;

    raft.propose(bytes('a'));
    const rd = raft.ready();
    raft.advance(rd);
    const next = drain(raft);

    expect(rd.entries.map(text)).toEqual(['a']);
    expect(rd.committed).toEqual([]);
    expect(next.hardState).toEqual({ term: 1, vote: 'n1', commit: 2 });
    expect(next.committed.map(text)).toEqual(['a']);
  });
});

describe('§5 Figure 2 through the Ready contract: one Ready at a time, handed back with advance()', () => {
  it('a Ready is not handed out again before advance(); step() meanwhile waits for the next one', () => {
    const n1 = lone('n1', ['n1', 'n2', 'n3']);
    n1.step(voteRequestFrom('n2', 1));
    const rd = n1.ready();

    const pendingHasReady = n1.hasReady();
    n1.step(voteRequestFrom('n3', 2));
    expect(() => n1.ready()).toThrow(RaftInvariantError);
    expect(() => n1.advance({ ...rd })).toThrow(RaftInvariantError);
    n1.advance(rd);
    const next = drain(n1);

    expect(pendingHasReady).toBe(false);
    expect(rd.hardState).toEqual({ term: 1, vote: 'n2', commit: 0 });
    expect(next.hardState).toEqual({ term: 2, vote: 'n3', commit: 0 });
    expect(next.messages).toEqual([
      { type: 'voteReply', from: 'n1', to: 'n3', term: 2, pre: false, granted: true },
    ]);
  });
});
