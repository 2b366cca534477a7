/**
 * The cases fuzz properties actually ran, against what a budget gives them. A case counts once
 * the property's predicate has completed it (returned, or resolved, with anything but `false`):
 * cases that fast-check skipped (`fc.pre`) or that failed do not. `verify()` then holds every
 * property to its budget exactly, so a property that runs fewer cases than it claims (a lowered
 * numRuns, an interrupted run, a test that no longer runs it) fails instead of passing quietly.
 */

import fc from 'fast-check';

/** The run parameters a property may add to its numRuns (none that change how many cases run). */
export type RunParams = Pick<fc.Parameters, 'endOnFailure' | 'seed' | 'verbose'>;

export class FuzzLedger<Name extends string> {
  readonly #budget: Readonly<Record<Name, number>>;
  readonly #completed = new Map<Name, number>();
  /** Properties whose run began (params() was asked for; completing a case shows it too). */
  readonly #began = new Set<Name>();
  /** Properties with a failing case: their own test reports it; the ledger does not. */
  readonly #failed = new Set<Name>();

  constructor(budget: Readonly<Record<Name, number>>) {
    this.#budget = budget;
  }

  /** The run parameters of property `name`: numRuns is its budget. Marks the property as begun. */
  params(name: Name, extra: RunParams = {}): RunParams & { numRuns: number } {
    this.#began.add(name);
    return { ...extra, numRuns: this.#budget[name] };
  }

  /** `predicate`, counting each case it completes as one case of property `name`. */
  counted<Args extends unknown[], Result>(
    name: Name,
    predicate: (...args: Args) => Result,
  ): (...args: Args) => Result {
    return (...args: Args): Result => {
      let result: Result;
      try {
        result = predicate(...args);
      } catch (err) {
        this.#noteFailure(name, err);
        throw err;
      }
      if (result instanceof Promise) {
        return result.then(
          (value: unknown) => {
            this.#complete(name, value);
            return value;
          },
          (err: unknown) => {
            this.#noteFailure(name, err);
            throw err;
          },
        ) as Result;
      }
      this.#complete(name, result);
      return result;
    };
  }

  /** The cases each property has completed so far. */
  completed(name: Name): number {
    return this.#completed.get(name) ?? 0;
  }

  /**
   * Throws, naming each property that completed other than exactly its budget's cases: every
   * property that began, and with `all`, every property of the budget (for a file whose every
   * test ran). Properties with a failing case are left to their own test's failure.
   */
  verify(o: { all: boolean }): void {
    const wrong: string[] = [];
    for (const [name, budget] of Object.entries(this.#budget) as [Name, number][]) {
      if (this.#failed.has(name)) continue;
      if (!this.#began.has(name) && this.completed(name) === 0) {
        if (o.all) wrong.push(`${name} never ran (budget ${budget} cases)`);
        continue;
      }
      const ran = this.completed(name);
      if (ran !== budget) wrong.push(`${name} ran ${ran} of its ${budget} cases`);
    }
    if (wrong.length > 0) throw new Error(`fuzz properties off their budget: ${wrong.join('; ')}`);
  }

  #complete(name: Name, value: unknown): void {
    if (value === false) this.#failed.add(name);
    else this.#completed.set(name, this.completed(name) + 1);
  }

  #noteFailure(name: Name, err: unknown): void {
    if (!fc.PreconditionFailure.isFailure(err)) this.#failed.add(name);
  }
}
