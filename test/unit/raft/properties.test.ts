/**
 * Property tests of the core's pure arithmetic against naive definitions: commitment by majority
 * (§5.3), election by majority (§5.2), and the seeded Rng the election timer draws from.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { committedIndex, quorumSize, voteResult } from '../../../src/raft/quorum.js';
import { createRng } from '../../../src/raft/rng.js';

/** The largest index i such that a majority of voters has match >= i (0 when none). */
function naiveCommitted(matches: readonly number[]): number {
  let best = 0;
  for (const i of matches) {
    const holding = matches.filter((m) => m >= i).length;
    if (2 * holding > matches.length && i > best) best = i;
  }
  return best;
}

const voterIds = (n: number) => Array.from({ length: n }, (_, k) => `n${k + 1}`);

describe('§5.2, §5.3 majorities', () => {
  it('quorumSize is the smallest count that is more than half', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 101 }), (n) => {
        const q = quorumSize(n);
        expect(2 * q > n && 2 * (q - 1) <= n).toBe(true);
      }),
    );
  });

  it('committedIndex is the largest index that a majority of voters has matched', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 9 }), (matches) => {
        expect(committedIndex(matches)).toBe(naiveCommitted(matches));
      }),
      { numRuns: 2000 },
    );
  });

  it('committedIndex does not depend on the order of the voters and leaves its input unchanged', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 9 }), fc.nat(), (matches, k) => {
        const copy = [...matches];
        const rotated = [...matches.slice(k % matches.length), ...matches.slice(0, k % matches.length)];
        expect(committedIndex(rotated)).toBe(committedIndex(matches));
        expect(matches).toEqual(copy);
      }),
    );
  });

  it('voteResult agrees with counting: won with a majority of grants, lost once a majority is out of reach', () => {
    const ballot = fc.integer({ min: 1, max: 9 }).chain((n) =>
      fc.tuple(
        fc.constant(voterIds(n)),
        fc.array(fc.constantFrom<boolean | undefined>(true, false, undefined), {
          minLength: n,
          maxLength: n,
        }),
        fc.array(fc.boolean(), { maxLength: 3 }),
      ),
    );
    fc.assert(
      fc.property(ballot, ([voters, cast, strangers]) => {
        const votes = new Map<string, boolean>();
        cast.forEach((v, k) => {
          if (v !== undefined) votes.set(voters[k]!, v);
        });
        // Votes from members outside the voter set never count.
        for (const [k, v] of strangers.entries()) votes.set(`x${k}`, v);
        const granted = cast.filter((v) => v === true).length;
        const rejected = cast.filter((v) => v === false).length;
        const n = voters.length;
        const expected = 2 * granted > n ? 'won' : 2 * (n - rejected) <= n ? 'lost' : 'pending';
        expect(voteResult(voters, votes)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('§5.2 randomized election timeouts: the seeded Rng', () => {
  it('the same seed yields the same sequence', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.array(fc.integer({ min: 1, max: 0xffff_ffff }), { minLength: 1, maxLength: 50 }),
        (seed, bounds) => {
          const a = createRng(seed);
          const b = createRng(seed);
          expect(bounds.map((m) => a.nextInt(m))).toEqual(bounds.map((m) => b.nextInt(m)));
        },
      ),
    );
  });

  it('nextInt(max) is an integer in [0, max)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 1, max: 0xffff_ffff }),
        (seed, max) => {
          const rng = createRng(seed);
          for (let k = 0; k < 20; k++) {
            const x = rng.nextInt(max);
            expect(Number.isInteger(x) && x >= 0 && x < max).toBe(true);
          }
        },
      ),
    );
  });

  it('different seeds give different sequences, and each value of a small range turns up about equally often', () => {
    const draws = (seed: number) => {
      const rng = createRng(seed);
      return Array.from({ length: 10_000 }, () => rng.nextInt(10));
    };
    const counts = Array.from({ length: 10 }, () => 0);
    for (const x of draws(42)) counts[x]!++;

    expect(draws(1).slice(0, 32)).not.toEqual(draws(2).slice(0, 32));
    for (const count of counts) expect(count > 900 && count < 1100).toBe(true);
  });
});
