/**
 * The harness's reading of who leads a shard (harness/leadership.ts), on hand-made status reports:
 * the fault suite's "every shard has a leader" and the integration tests' leaderOf rest on it.
 */

import { describe, expect, it } from 'vitest';
import type { GroupStatus } from '../../../harness/index.js';
import { highestTermLeader, majorityLeader } from '../../../harness/leadership.js';

/** Node `id`'s report of shard 0: its role, term and the leader it knows. */
function group(id: string, role: GroupStatus['role'], term: number, leader: string | null): GroupStatus {
  return {
    shard: 0,
    members: ['n1', 'n2', 'n3'],
    id,
    role,
    term,
    vote: null,
    leader,
    commit: 0,
    applied: 0,
    lastIndex: 0,
    snapshotIndex: 0,
    transferee: null,
  };
}

const reports = (...groups: GroupStatus[]) => new Map(groups.map((g) => [g.id, [g]]));

describe('who leads a shard', () => {
  it('leaderOf: the self-declared leader with the highest term, whoever else agrees', () => {
    const r = reports(
      group('n1', 'leader', 3, 'n1'),
      group('n2', 'leader', 4, 'n2'),
      group('n3', 'follower', 4, 'n2'),
    );
    expect(highestTermLeader(r, 0)).toBe('n2');
    expect(highestTermLeader(reports(group('n1', 'follower', 2, null)), 0)).toBe(null);
  });

  it('leaders: a leader a majority acknowledges in its own current term', () => {
    const r = reports(
      group('n1', 'follower', 5, 'n2'),
      group('n2', 'leader', 5, 'n2'),
      group('n3', 'candidate', 6, null),
    );
    expect(majorityLeader(r, 0, 3)).toBe('n2');
  });

  it('leaders: none when only a minority answers for it', () => {
    expect(majorityLeader(reports(group('n2', 'leader', 5, 'n2')), 0, 3)).toBe(null);
  });

  it('leaders: none when the acknowledged leader has moved to a later term (or did not answer)', () => {
    const stale = reports(
      group('n1', 'follower', 5, 'n2'),
      group('n3', 'follower', 5, 'n2'),
      group('n2', 'candidate', 6, null),
    );
    expect(majorityLeader(stale, 0, 3)).toBe(null);
    const silent = reports(group('n1', 'follower', 5, 'n2'), group('n3', 'follower', 5, 'n2'));
    expect(majorityLeader(silent, 0, 3)).toBe(null);
  });
});
