/**
 * The simulator can fail: with the core broken in two classic ways, the swarm finds a seed
 * where a safety checker fires, within a fixed budget of seeds. Each search stops at the first
 * failing seed; the mocks are restored after each test.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DriveLoop } from '../../src/node/drive-loop.js';
import { RaftLog } from '../../src/raft/log.js';
import type { Index, Message } from '../../src/raft/types.js';
import { runSeed } from './run-seed.js';
import { SimulationFailure } from './simulation.js';

const seedBudget = 1_000;
const safetyViolation =
  /^seed=\d+: (election safety|log matching|leader completeness|state machine safety|linearizable read|lost acknowledged write|commit quorum|overlapping majorities): /;

/** The first seed whose run fails, and how; null if every seed within the budget passes. */
async function firstFailure(): Promise<{ seed: number; message: string } | null> {
  for (let seed = 0; seed < seedBudget; seed++) {
    try {
      await runSeed(seed);
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
  it('that grants votes without the §5.4.1 up-to-date check', async () => {
    vi.spyOn(RaftLog.prototype, 'isUpToDate').mockReturnValue(true);
    const failure = await firstFailure();
    expect(failure?.message).toMatch(safetyViolation);
  });

  it('that commits entries of earlier terms by counting replicas (§5.4.2, Figure 8)', async () => {
    vi.spyOn(RaftLog.prototype, 'maybeCommit').mockImplementation(function (this: RaftLog, index: Index) {
      if (index <= this.committed || this.term(index) === null) return false;
      this.commitTo(index);
      return true;
    });
    const failure = await firstFailure();
    expect(failure?.message).toMatch(safetyViolation);
  });

  it('whose drive loop sends votes and acknowledgements before the write they promise is durable', async () => {
    // The shell, not the core: every message of a turn leaves before its write (a vote reply
    // before the vote is synced, an append reply before the entries are). Only a simulator that
    // runs the real drive loop can see it (seed 1 today: commit quorum).
    const loop = DriveLoop.prototype as unknown as { sendsBeforePersist(msg: Message): boolean };
    vi.spyOn(loop, 'sendsBeforePersist').mockReturnValue(true);
    const failure = await firstFailure();
    expect(failure?.message).toMatch(safetyViolation);
  });

  it('and passes again once the mocks are restored', async () => {
    expect((await runSeed(0)).appliedMax).toBeGreaterThan(0);
  });
});
