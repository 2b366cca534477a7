/**
 * The fuzz cases of the default suite, per file and property, in one place: issue #8 asks for at
 * least 100,000 cases with zero crashes, and `budget.test.ts` holds the sum to that. Each file
 * runs its properties through `fuzzBudget`, which counts the cases they actually complete and
 * fails the file when one ran other than its share.
 */

import { afterAll } from 'vitest';
import { FuzzLedger } from './fuzz-ledger.js';

export const fuzzRuns = {
  peerDecoder: {
    batchValid: 2_500,
    batchRandomBytes: 46_000,
    batchTruncated: 4_000,
    batchBitFlipped: 3_000,
    batchAnyMsgpack: 4_000,
    batchWrongField: 6_000,
    batchTooMany: 500,
    chunkValid: 1_500,
    chunkRandomBytes: 22_000,
    chunkTruncatedOrFlipped: 2_000,
    chunkAnyMsgpack: 2_000,
    chunkWrongField: 3_000,
  },
  peerPort: {
    batchGarbage: 1_000,
    batchValid: 200,
    snapshotGarbage: 600,
    unauthenticated: 600,
  },
  clientApi: {
    random: 1_500,
    modelled: 1_500,
  },
  forgedMessages: {
    impossible: 100,
    wellFormedLies: 800,
  },
} as const;

/** Every case of every fuzz property. */
export function fuzzCaseCount(): number {
  return Object.values(fuzzRuns)
    .flatMap((file) => Object.values(file) as number[])
    .reduce((a, b) => a + b, 0);
}

export type FuzzFile = keyof typeof fuzzRuns;

/**
 * The ledger of one fuzz file's properties, checked once the file's tests are done (afterAll):
 * every property that began must have completed exactly its cases, and when every test of the
 * file ran (no `-t` filter, no skip), every property of the file's budget must have run.
 */
export function fuzzBudget<F extends FuzzFile>(file: F): FuzzLedger<keyof (typeof fuzzRuns)[F] & string> {
  const budget = fuzzRuns[file] as Readonly<Record<keyof (typeof fuzzRuns)[F] & string, number>>;
  const ledger = new FuzzLedger(budget);
  // biome-ignore lint/correctness/noEmptyPattern: vitest wants a destructured context before the suite.
  afterAll(({}, suite) => ledger.verify({ all: everyTestRan(suite) }));
  return ledger;
}

/** Whether every test under `task` was run (none skipped, filtered out or left to do). */
function everyTestRan(task: { readonly mode: string; readonly tasks?: readonly unknown[] }): boolean {
  if (task.mode === 'skip' || task.mode === 'todo') return false;
  return (task.tasks ?? []).every((t) => everyTestRan(t as typeof task));
}
