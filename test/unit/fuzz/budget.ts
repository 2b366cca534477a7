/**
 * The fuzz cases of the default suite, per file and property, in one place: issue #8 asks for at
 * least 100,000 cases with zero crashes, and `budget.test.ts` holds the sum to that.
 */

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
