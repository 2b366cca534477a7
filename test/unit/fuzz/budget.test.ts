/**
 * The fuzz suite's size: issue #8 asks for at least 100,000 fuzz cases in the default suite.
 * Each property runs exactly the cases `budget.ts` gives it (fast-check's numRuns).
 */

import { describe, expect, it } from 'vitest';
import { fuzzCaseCount, fuzzRuns } from './budget.js';

describe('the fuzz budget', () => {
  it('adds up to at least 100,000 cases', () => {
    expect(fuzzCaseCount()).toBeGreaterThanOrEqual(100_000);
  });

  it('gives every file its share', () => {
    const perFile = Object.fromEntries(
      Object.entries(fuzzRuns).map(([file, props]) => [
        file,
        Object.values(props).reduce((a, b) => a + b, 0),
      ]),
    );
    expect(perFile).toEqual({ peerDecoder: 96_500, peerPort: 2_400, clientApi: 3_000, forgedMessages: 900 });
  });
});
