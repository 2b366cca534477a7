/**
 * The simulator can fail: with the core broken in two classic ways, the swarm finds a seed
 * where a safety checker fires, within a fixed budget of seeds. Each search stops at the first
 * failing seed; the mocks are restored after each test.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RaftLog } from '../../src/raft/log.js';
import type { Index } from '../../src/raft/types.js';
import { runSeed } from './run-seed.js';
import { SimulationFailure } from './simulation.js';

const seedBudget = 1_000;
const safetyViolation =
  /^seed=\d+: (election safety|log matching|leader completeness|state machine safety|linearizable read|lost acknowledged write): /;

/** The first seed whose run fails, and how; null if every seed within the budget passes. */
function firstFailure(): { seed: number; message: string } | null {
  for (let seed = 0; seed < seedBudget; seed++) {
    try {
      runSeed(seed);
    } catch (err) {
      if (err instanceof SimulationFailure) return { seed, message: err.message };
      throw err;
    }
  }
  return null;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the swarm catches a broken core', () => {
  it('that grants votes without the §5.4.1 up-to-date check', () => {
    vi.spyOn(RaftLog.prototype, 'isUpToDate').mockReturnValue(true);
    const failure = firstFailure();
    expect(failure?.message).toMatch(safetyViolation);
  });

  it('that commits entries of earlier terms by counting replicas (§5.4.2, Figure 8)', () => {
    vi.spyOn(RaftLog.prototype, 'maybeCommit').mockImplementation(function (this: RaftLog, index: Index) {
      if (index <= this.committed || this.term(index) === null) return false;
      this.commitTo(index);
      return true;
    });
    const failure = firstFailure();
    expect(failure?.message).toMatch(safetyViolation);
  });

  it('and passes again once the mocks are restored', () => {
    expect(runSeed(0).appliedMax).toBeGreaterThan(0);
  });
});
