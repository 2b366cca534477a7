/**
 * Seeded randomness for the simulator: one independent stream per concern (faults, network, each
 * member's core), all derived from the run's seed, so that a seed replays the whole run.
 * Never Math.random: a run must depend on nothing but its seed.
 */
import { createRng, type Rng } from '../../src/raft/rng.js';

/** A seed for stream `stream` of run `seed`; distinct streams give unrelated sequences. */
export function forkSeed(seed: number, stream: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca77)) >>> 0;
}

/** The verbs the simulator draws with, over one Rng stream. */
export class SimRandom {
  readonly #rng: Rng;

  constructor(seed: number) {
    this.#rng = createRng(seed);
  }

  /** An integer in [0, maxExclusive). */
  int(maxExclusive: number): number {
    return this.#rng.nextInt(maxExclusive);
  }

  /** An integer in [min, max], both included. */
  between(min: number, max: number): number {
    return min + this.#rng.nextInt(max - min + 1);
  }

  /** True with probability permille / 1000. */
  chance(permille: number): boolean {
    return permille > 0 && this.#rng.nextInt(1000) < permille;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty array');
    return items[this.#rng.nextInt(items.length)]!;
  }

  /** A copy of `items` in a random order (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.#rng.nextInt(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}
