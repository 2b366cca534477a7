/**
 * The only randomness the core may use: a seeded source handed in by the caller, so that one
 * seed replays a whole simulated run. `createRng` is xoshiro128** seeded through splitmix32.
 */

/** A source of uniformly distributed integers. */
export interface Rng {
  /** An integer in [0, maxExclusive); maxExclusive must be a positive integer below 2^32. */
  nextInt(maxExclusive: number): number;
}

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** A deterministic Rng: the same seed always yields the same sequence. */
export function createRng(seed: number): Rng {
  const init = splitmix32(seed);
  const s = new Uint32Array([init(), init(), init(), init()]);
  const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
  const next = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  };
  return {
    nextInt(maxExclusive: number): number {
      // Multiply-shift keeps the bias below 2^-32 for the small ranges the core asks for.
      return Math.floor((next() / 0x1_0000_0000) * maxExclusive);
    },
  };
}
