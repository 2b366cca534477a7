/**
 * The cluster view behind /ui and `raftkv status`: leaders, lag from the leader's view, down
 * nodes, and one timeline merged from every node's observations.
 */

import { describe, expect, it } from 'vitest';
import { buildClusterView, mergeLeaderChanges } from '../../../src/api/cluster-view.js';
import { formatClusterView } from '../../../src/cli/status.js';
import type { GroupStatus, LeaderChange, NodeStatus } from '../../../src/node/index.js';

function change(o: Partial<LeaderChange> & Pick<LeaderChange, 'observer' | 'term' | 'to'>): LeaderChange {
  return {
    shard: 0,
    from: 'n1',
    kind: 'failover',
    detection: 'election timeout',
    lostAtMs: 1_000,
    electedAtMs: 1_200,
    lastWriteBeforeMs: 900,
    firstWriteAfterMs: null,
    windowMs: null,
    window: 'open',
    ...o,
  };
}

function group(
  id: string,
  shard: number,
  o: Partial<GroupStatus> & Pick<GroupStatus, 'role' | 'term' | 'leader'>,
): GroupStatus {
  return {
    id,
    shard,
    members: ['n1', 'n2', 'n3'],
    vote: null,
    commit: 10,
    applied: 10,
    lastIndex: 10,
    snapshotIndex: 0,
    transferee: null,
    conf: { voters: ['n1', 'n2', 'n3'], learners: [] },
    confIndex: 0,
    followers: [],
    writesPerSec: 0,
    readsPerSec: 0,
    writesApplied: 0,
    readsServed: 0,
    lastWriteAtMs: null,
    leaderChanges: [],
    ...o,
  };
}

function node(id: string, groups: GroupStatus[]): NodeStatus {
  return { id, pid: 100 + Number(id.slice(1)), nowMs: 5_000, startedAtMs: 1, groups };
}

describe('mergeLeaderChanges', () => {
  it('keeps one entry per change, preferring a measured window and the new leader’s own view', () => {
    const merged = mergeLeaderChanges([
      change({
        observer: 'n3',
        term: 4,
        to: 'n2',
        window: 'measured',
        windowMs: 700,
        firstWriteAfterMs: 1_600,
      }),
      change({
        observer: 'n2',
        term: 4,
        to: 'n2',
        window: 'measured',
        windowMs: 650,
        firstWriteAfterMs: 1_550,
      }),
      change({ observer: 'n1', term: 4, to: 'n2', kind: 'initial', from: null, window: 'idle' }),
      change({ observer: 'n2', term: 3, to: 'n1', kind: 'transfer', electedAtMs: 500, window: 'idle' }),
      change({ observer: 'n3', term: 3, to: 'n1', kind: 'failover', electedAtMs: 510, window: 'idle' }),
    ]);
    expect(merged.map((c) => [c.term, c.to, c.observer, c.kind, c.windowMs, c.seenBy])).toEqual([
      [4, 'n2', 'n2', 'failover', 650, ['n3', 'n1']],
      [3, 'n1', 'n2', 'transfer', null, ['n3']],
    ]);
  });
});

describe('buildClusterView', () => {
  const shard1 = { voters: ['n2', 'n3', 'n1'], learners: [] };
  const view = buildClusterView({
    clusterId: 'c1',
    servedBy: 'n2',
    atMs: 5_000,
    placement: [
      ['n1', 'n2', 'n3'],
      ['n2', 'n3', 'n1'],
    ],
    answers: [
      { id: 'n1', api: 'http://a:1', error: 'ECONNREFUSED' },
      {
        id: 'n2',
        api: 'http://a:2',
        status: node('n2', [
          group('n2', 0, {
            role: 'leader',
            term: 5,
            leader: 'n2',
            lastIndex: 40,
            commit: 38,
            writesPerSec: 12.5,
            followers: [
              { id: 'n1', match: 30, next: 31, state: 'probe', learner: false, lag: 10 },
              { id: 'n3', match: 39, next: 41, state: 'replicate', learner: false, lag: 1 },
            ],
          }),
          group('n2', 1, { role: 'follower', term: 2, leader: 'n1', readsPerSec: 3, conf: shard1 }),
        ]),
      },
      {
        id: 'n3',
        api: 'http://a:3',
        status: node('n3', [
          group('n3', 0, { role: 'follower', term: 5, leader: 'n2' }),
          group('n3', 1, { role: 'candidate', term: 3, leader: null, readsPerSec: 1, conf: shard1 }),
        ]),
      },
    ],
  });

  it('shows who leads what, the lag of each follower, and down nodes', () => {
    expect(view.nodes.map((n) => [n.id, n.up, n.pid, n.leads, n.error])).toEqual([
      ['n1', false, null, [], 'ECONNREFUSED'],
      ['n2', true, 102, [0], null],
      ['n3', true, 103, [], null],
    ]);
    const [s0, s1] = view.shards;
    expect([s0!.leader, s0!.term, s0!.commit, s0!.lastIndex, s0!.writesPerSec]).toEqual([
      'n2',
      5,
      38,
      40,
      12.5,
    ]);
    expect(s0!.replicas.map((r) => [r.node, r.role, r.lag])).toEqual([
      ['n1', 'down', null],
      ['n2', 'leader', 0],
      ['n3', 'follower', 1],
    ]);
    expect([s1!.leader, s1!.term, s1!.readsPerSec]).toEqual([null, 3, 4]);
    expect(s1!.members).toEqual(['n2', 'n3', 'n1']);
    expect(s1!.replicas.map((r) => r.role)).toEqual(['down', 'follower', 'candidate']);
  });

  it("takes a shard's members from its leader's configuration, learners marked, not from the placement", () => {
    const moved = buildClusterView({
      clusterId: 'c1',
      servedBy: 'n1',
      atMs: 5_000,
      placement: [['n1', 'n2', 'n3']],
      answers: ['n1', 'n2', 'n3', 'n4'].map((id, k) => ({
        id,
        api: `http://a:${k + 1}`,
        status: node(
          id,
          id === 'n3'
            ? []
            : [
                group(id, 0, {
                  role: id === 'n1' ? 'leader' : 'follower',
                  term: 2,
                  leader: 'n1',
                  conf: { voters: ['n1', 'n2'], learners: ['n4'] },
                  confIndex: 7,
                }),
              ],
        ),
      })),
    });
    const s = moved.shards[0]!;
    expect([s.members, s.learners]).toEqual([['n1', 'n2', 'n4'], ['n4']]);
    expect(s.replicas.map((r) => [r.node, r.role, r.learner])).toEqual([
      ['n1', 'leader', false],
      ['n2', 'follower', false],
      ['n4', 'follower', true],
    ]);
    expect(formatClusterView(moved)).toMatch(/n4 +learner/);
  });

  it('prints as tables for `raftkv status`', () => {
    const text = formatClusterView(view);
    expect(text).toContain('cluster c1 · 3 nodes (2 up) · 2 shards · via n2');
    expect(text).toContain('n1    DOWN   -    http://a:1  (ECONNREFUSED)');
    expect(text.split('\n').filter((l) => /^\d\s/.test(l))).toEqual([
      '0      n2      5     12.5      0.0      n1       down       -     -       -        -     -',
      '1      NONE    3     0.0       4.0      n1       down       -     -       -        -     -',
    ]);
  });
});
