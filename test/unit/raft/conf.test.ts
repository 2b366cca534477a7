/**
 * The pure rules of configurations (conf.ts, thesis §4.1): the bytes of a `config` entry, and what
 * one change makes of a configuration or why it does not fit.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { changedConf, decodeConf, encodeConf, isValidConf, peersOf } from '../../../src/raft/conf.js';
import type { ConfState } from '../../../src/raft/types.js';
import { bytes } from './cluster.js';

const conf: ConfState = { voters: ['n1', 'n2', 'n3'], learners: ['n4'] };

/** A valid configuration of ids drawn from `id`: distinct, at least one voter. */
const validConf = (id: fc.Arbitrary<string>) =>
  fc
    .uniqueArray(id, { minLength: 1, maxLength: 9 })
    .chain((ids) =>
      fc
        .integer({ min: 1, max: ids.length })
        .map((v): ConfState => ({ voters: ids.slice(0, v), learners: ids.slice(v) })),
    );
const smallId = fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n5', 'n6');

describe('thesis §4.1 config entries', () => {
  it('decoding the bytes of a configuration gives back the same voters and learners, in order', () => {
    fc.assert(
      fc.property(validConf(fc.string({ minLength: 1, maxLength: 8 })), (c) => {
        expect(decodeConf(encodeConf(c))).toEqual(c);
      }),
      { numRuns: 500 },
    );
  });

  it('bytes that do not hold a valid configuration decode to null', () => {
    const malformed = [
      '',
      'not json',
      'null',
      '42',
      '"n1"',
      '[]',
      '{}',
      '{"voters":["n1"]}',
      '{"learners":[]}',
      '{"voters":"n1","learners":[]}',
      '{"voters":[1],"learners":[]}',
      '{"voters":[""],"learners":[]}',
      '{"voters":["n1"],"learners":[null]}',
      '{"voters":[],"learners":["n2"]}',
      '{"voters":["n1","n1"],"learners":[]}',
      '{"voters":["n1"],"learners":["n1"]}',
    ];

    expect(malformed.map((s) => decodeConf(bytes(s)))).toEqual(malformed.map(() => null));
    expect(decodeConf(new Uint8Array([0xff, 0xfe, 0x00]))).toBeNull();
  });

  it('a configuration is valid only with at least one voter and no member twice', () => {
    expect(isValidConf(conf)).toBe(true);
    expect(isValidConf({ voters: ['n1'], learners: [] })).toBe(true);
    expect(isValidConf({ voters: [], learners: ['n1'] })).toBe(false);
    expect(isValidConf({ voters: ['n1', 'n2'], learners: ['n2'] })).toBe(false);
  });

  it('a member replicates to every other member, voter or learner', () => {
    expect(peersOf(conf, 'n1')).toEqual(['n2', 'n3', 'n4']);
    expect(peersOf(conf, 'n4')).toEqual(['n1', 'n2', 'n3']);
    expect(peersOf(conf, 'n9')).toEqual(['n1', 'n2', 'n3', 'n4']);
  });
});

describe('thesis §4.1 one change at a time', () => {
  it('addLearner adds a new member as a learner; a member already in is refused', () => {
    expect(changedConf(conf, { type: 'addLearner', node: 'n5' })).toEqual({
      voters: ['n1', 'n2', 'n3'],
      learners: ['n4', 'n5'],
    });
    expect(changedConf(conf, { type: 'addLearner', node: 'n2' })).toBe('alreadyMember');
    expect(changedConf(conf, { type: 'addLearner', node: 'n4' })).toBe('alreadyMember');
  });

  it('promote turns a learner into a voter; a voter is already a member, anyone else is not a learner', () => {
    expect(changedConf(conf, { type: 'promote', node: 'n4' })).toEqual({
      voters: ['n1', 'n2', 'n3', 'n4'],
      learners: [],
    });
    expect(changedConf(conf, { type: 'promote', node: 'n1' })).toBe('alreadyMember');
    expect(changedConf(conf, { type: 'promote', node: 'n9' })).toBe('notLearner');
  });

  it('remove takes out a voter or a learner, but never the last voter; a non-member is refused', () => {
    expect(changedConf(conf, { type: 'remove', node: 'n2' })).toEqual({
      voters: ['n1', 'n3'],
      learners: ['n4'],
    });
    expect(changedConf(conf, { type: 'remove', node: 'n4' })).toEqual({
      voters: ['n1', 'n2', 'n3'],
      learners: [],
    });
    expect(changedConf(conf, { type: 'remove', node: 'n9' })).toBe('notMember');
    expect(changedConf({ voters: ['n1'], learners: ['n2'] }, { type: 'remove', node: 'n1' })).toBe(
      'noVoterLeft',
    );
  });

  it('every change that fits gives a valid configuration whose voters differ from the old ones by at most one', () => {
    const changes = fc.record({
      type: fc.constantFrom('addLearner' as const, 'promote' as const, 'remove' as const),
      node: smallId,
    });
    const symmetricDiff = (a: readonly string[], b: readonly string[]) =>
      a.filter((id) => !b.includes(id)).length + b.filter((id) => !a.includes(id)).length;
    const members = (x: ConfState) => [...x.voters, ...x.learners];
    let fitted = 0;
    fc.assert(
      fc.property(validConf(smallId), changes, (c, change) => {
        const next = changedConf(c, change);
        if (typeof next === 'string') return;
        fitted++;
        expect(isValidConf(next)).toBe(true);
        expect(symmetricDiff(c.voters, next.voters)).toBeLessThanOrEqual(1);
        expect(symmetricDiff(members(c), members(next))).toBeLessThanOrEqual(1);
        expect(
          symmetricDiff(c.voters, next.voters) + symmetricDiff(members(c), members(next)),
        ).toBeGreaterThan(0);
      }),
      { numRuns: 1000 },
    );
    expect(fitted).toBeGreaterThan(300);
  });
});
