/**
 * What a benchmark asks: which operation next (by mix), on which key (uniform or zipfian over a
 * fixed key count), with what value. Seeded, so two runs ask the same questions.
 */

export type OpKind = 'put' | 'get' | 'cas';

export interface Workload {
  readonly keys: number;
  readonly valueBytes: number;
  readonly distribution: 'uniform' | 'zipfian';
  /** Relative weights of the operations. */
  readonly mix: Readonly<Record<OpKind, number>>;
}

/** Parses `put=1,get=3,cas=0` into weights; unknown names or no positive weight is an error. */
export function parseMix(text: string): Record<OpKind, number> {
  const mix: Record<OpKind, number> = { put: 0, get: 0, cas: 0 };
  for (const part of text.split(',').filter(Boolean)) {
    const [name, weight] = part.split('=');
    if (name !== 'put' && name !== 'get' && name !== 'cas')
      throw new RangeError(`unknown operation "${name}" in --mix`);
    const w = Number(weight ?? '1');
    if (!Number.isFinite(w) || w < 0) throw new RangeError(`bad weight for ${name} in --mix`);
    mix[name] = w;
  }
  if (mix.put + mix.get + mix.cas <= 0) throw new RangeError('--mix needs a positive weight');
  return mix;
}

/** A small, fast, seeded generator (mulberry32) for choosing operations and keys. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Zipfian ranks over [0, n) with exponent `s` (YCSB's 0.99 by default), by inverse CDF. */
export function zipfian(n: number, random: () => number, s = 0.99): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += 1 / (i + 1) ** s;
    cdf[i] = sum;
  }
  return () => {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** One generator per client: the next operation and key. */
export function chooser(w: Workload, seed: number): () => { kind: OpKind; key: string } {
  const random = seededRandom(seed);
  const rank = w.distribution === 'zipfian' ? zipfian(w.keys, random) : () => Math.floor(random() * w.keys);
  const total = w.mix.put + w.mix.get + w.mix.cas;
  return () => {
    const r = random() * total;
    const kind: OpKind = r < w.mix.put ? 'put' : r < w.mix.put + w.mix.get ? 'get' : 'cas';
    return { kind, key: `bench/${rank().toString().padStart(8, '0')}` };
  };
}
