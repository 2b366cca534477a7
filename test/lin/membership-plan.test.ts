import { describe, expect, it } from 'vitest';
import {
  type Change,
  countMembership,
  effectOf,
  type MemberChange,
  type MemberMove,
  nextChange,
} from './membership-plan.js';
import { formatMembership } from './report.js';

const conf = (voters: string[], learners: string[] = []) => ({ voters, learners });

/** Applies `nextChange` until done or blocked, as a leader that accepts every change would. */
function plan(
  start: { voters: string[]; learners: string[] },
  target: string[],
  votersMin: number,
): string[] {
  let c = start;
  const steps: string[] = [];
  for (let i = 0; i < 10; i++) {
    const next = nextChange(c, target, votersMin, i % 2 === 0 ? 'addLearner' : 'addVoter');
    if (next === 'done' || next === 'blocked') return [...steps, next];
    steps.push(`${next.type} ${next.node}`);
    const { node } = next;
    if (next.type === 'addLearner') c = conf(c.voters, [...c.learners, node]);
    else if (next.type === 'addVoter' || next.type === 'promote')
      c = conf(
        [...c.voters, node],
        c.learners.filter((x) => x !== node),
      );
    else
      c = conf(
        c.voters.filter((x) => x !== node),
        c.learners.filter((x) => x !== node),
      );
  }
  throw new Error(`no end: ${steps.join(', ')}`);
}

describe('the membership nemesis plans one change at a time', () => {
  it('moves a replica to another node by adding before removing, so voters never drop below three', () => {
    expect(plan(conf(['n1', 'n2', 'n3']), ['n1', 'n2', 'n4'], 2)).toEqual([
      'addLearner n4',
      'promote n4',
      'remove n3',
      'done',
    ]);
  });

  it('removes a replica and adds it back on the same node', () => {
    expect(plan(conf(['n1', 'n2', 'n3']), ['n1', 'n2'], 2)).toEqual(['remove n3', 'done']);
    expect(plan(conf(['n1', 'n2']), ['n1', 'n2', 'n3'], 2)).toEqual(['addLearner n3', 'promote n3', 'done']);
  });

  it('finishes or undoes a half-done move: promotes a wanted learner, removes a stray one', () => {
    expect(plan(conf(['n1', 'n2'], ['n3']), ['n1', 'n2', 'n3'], 2)).toEqual(['promote n3', 'done']);
    expect(plan(conf(['n1', 'n2', 'n3'], ['n4']), ['n1', 'n2', 'n3'], 2)).toEqual(['remove n4', 'done']);
    expect(plan(conf(['n1', 'n2', 'n3', 'n4']), ['n1', 'n2', 'n3'], 2)).toEqual(['remove n4', 'done']);
  });

  it('never removes a voter that would leave fewer than a majority of the original voters', () => {
    expect(nextChange(conf(['n1', 'n2']), ['n1'], 2, 'addLearner')).toBe('blocked');
    expect(nextChange(conf(['n1', 'n2', 'n3']), ['n1', 'n2', 'n3'], 2, 'addLearner')).toBe('done');
  });

  it('reads the effect of a change from the configuration after it', () => {
    const add: Change = { type: 'addVoter', node: 'n3' };
    expect(effectOf(add, conf(['n1', 'n2']), conf(['n1', 'n2'], ['n3']))).toBe('partial');
    expect(effectOf(add, conf(['n1', 'n2']), conf(['n1', 'n2', 'n3']))).toBe('full');
    expect(effectOf(add, conf(['n1', 'n2']), conf(['n1', 'n2']))).toBe('none');
    const remove: Change = { type: 'remove', node: 'n3' };
    expect(effectOf(remove, conf(['n1', 'n2', 'n3']), conf(['n1', 'n2', 'n3']))).toBe('none');
    expect(effectOf(remove, conf(['n1', 'n2', 'n3']), conf(['n1', 'n2']))).toBe('full');
  });
});

describe('the membership record', () => {
  const change = (id: number, c: Partial<MemberChange>): MemberChange => ({
    id,
    phase: 'move',
    move: 1,
    shard: 0,
    type: 'remove',
    node: 'n3',
    via: 'n1',
    start: id * 1000,
    end: id * 1000 + 100,
    outcome: 'ok',
    status: 200,
    detail: '',
    after: conf(['n1', 'n2']),
    effect: null,
    ...c,
  });
  const moves: MemberMove[] = [
    {
      id: 1,
      shard: 0,
      variant: 'same-node',
      from: 'n3',
      to: 'n3',
      start: 900,
      there: 1100,
      back: 5000,
      abandoned: null,
      cutShort: false,
    },
    {
      id: 2,
      shard: 1,
      variant: 'other-node',
      from: 'n1',
      to: 'n4',
      start: 6000,
      there: null,
      back: null,
      abandoned: null,
      cutShort: true,
    },
  ];
  const changes = [
    change(1, {}),
    change(2, {
      type: 'addVoter',
      outcome: 'unavailable',
      status: 503,
      detail: 'node n3 did not catch up in time',
      after: conf(['n1', 'n2'], ['n3']),
      effect: 'partial',
    }),
    change(3, {
      type: 'promote',
      outcome: 'unknown',
      status: 504,
      after: conf(['n1', 'n2', 'n3']),
      effect: 'full',
    }),
    change(4, { type: 'remove', outcome: 'conflict', status: 409, effect: 'none' }),
    change(5, {
      phase: 'restore',
      move: null,
      outcome: 'notSent',
      status: null,
      detail: 'ECONNREFUSED',
      after: null,
    }),
  ];

  it('counts changes by answer, unknown outcomes that applied, and refusals that changed something', () => {
    expect(countMembership(moves, changes)).toEqual({
      moves: 2,
      movesCompleted: 1,
      movesAbandoned: 0,
      movesCutShort: 1,
      changes: 5,
      ok: 1,
      conflict: 1,
      refused: 0,
      unavailable: 1,
      notSent: 1,
      unknown: 1,
      unknownApplied: 1,
      unexpected: 0,
      refusedYetChanged: 1,
    });
  });

  it('lists every move and change with its answer in the report', () => {
    const text = formatMembership({
      moves,
      changes,
      counts: countMembership(moves, changes),
      original: [['n1', 'n2', 'n3']],
    }).join('\n');
    expect(text).toContain(
      'membership: 2 moves (1 there and back, 0 given up, 1 cut short by the end); 5 changes asked: 1 done (200), ' +
        'refused 2 (409 1, 400 0, 503 1), not sent 1, outcome unknown 1 (1 of them applied), other 0',
    );
    expect(text).toContain(
      'M2 6.0 s shard 1 n1 -> n4 and back: there at -, back at -; cut short by the end of the run',
    );
    expect(text).toMatch(
      /2 +M1 +2\.0 s +2\.1 s +shard 0 addVoter n3 +n1 +unavailable 503 +voters n1,n2 learners n3; node n3 did not catch up in time \(effect: partial\)/,
    );
    expect(text).toMatch(/5 +restore .* notSent +unknown; ECONNREFUSED/);
  });
});
