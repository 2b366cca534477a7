/**
 * The fuzz suite's size: issue #8 asks for at least 100,000 fuzz cases in the default suite.
 * `budget.ts` gives every property its cases; every fuzz file counts the cases its properties
 * actually complete (fuzz-ledger.ts) and fails when one ran other than its share. This file holds
 * the budget to the total and shows that the count, not the budget, is what a file is held to.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzCaseCount, fuzzRuns } from './budget.js';
import { FuzzLedger } from './fuzz-ledger.js';

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

describe('the fuzz ledger', () => {
  it('passes properties that completed exactly their cases, sync or async', async () => {
    const ledger = new FuzzLedger({ sync: 40, async: 30 });
    fc.assert(
      fc.property(
        fc.nat(),
        ledger.counted('sync', () => {}),
      ),
      ledger.params('sync'),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        ledger.counted('async', async () => {}),
      ),
      ledger.params('async'),
    );
    expect([ledger.completed('sync'), ledger.completed('async')]).toEqual([40, 30]);
    expect(() => ledger.verify({ all: true })).not.toThrow();
  });

  it('fails a property that ran fewer cases than its budget, however few were asked for', () => {
    const ledger = new FuzzLedger({ short: 50 });
    // A property given its own numRuns instead of the ledger's params().
    fc.assert(
      fc.property(
        fc.nat(),
        ledger.counted('short', () => {}),
      ),
      { numRuns: 10 },
    );
    expect(() => ledger.verify({ all: true })).toThrow(
      'fuzz properties off their budget: short ran 10 of its 50 cases',
    );
  });

  it('does not count the cases fast-check skipped (fc.pre): only completed ones', () => {
    const ledger = new FuzzLedger({ even: 20 });
    let calls = 0;
    fc.assert(
      fc.property(
        fc.nat(),
        ledger.counted('even', (n) => {
          calls++;
          fc.pre(n % 2 === 0);
        }),
      ),
      ledger.params('even'),
    );
    expect(ledger.completed('even')).toBe(20);
    expect(calls).toBeGreaterThan(20);
    expect(() => ledger.verify({ all: true })).not.toThrow();
  });

  it('fails a property that never ran when every test of the file ran, not when some were filtered out', () => {
    const ledger = new FuzzLedger({ ran: 5, dropped: 5 });
    fc.assert(
      fc.property(
        fc.nat(),
        ledger.counted('ran', () => {}),
      ),
      ledger.params('ran'),
    );
    expect(() => ledger.verify({ all: true })).toThrow(
      'fuzz properties off their budget: dropped never ran (budget 5 cases)',
    );
    expect(() => ledger.verify({ all: false })).not.toThrow();
  });

  it('leaves a property with a failing case to its own test', () => {
    const ledger = new FuzzLedger({ broken: 100 });
    expect(() =>
      fc.assert(
        fc.property(
          fc.nat(),
          ledger.counted('broken', (n) => n % 2 === 0),
        ),
        ledger.params('broken'),
      ),
    ).toThrow(/Property failed/);
    expect(() => ledger.verify({ all: true })).not.toThrow();
  });
});
