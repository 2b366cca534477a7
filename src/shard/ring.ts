/**
 * The consistent-hash ring: each shard group owns many virtual points; a key belongs to the
 * shard of the first point at or after the key's hash, wrapping around. Nodes and clients build
 * the same ring from (shards, pointsPerShard), so they route every key alike.
 */

import { hash53 } from './hash.js';

/** Virtual points per shard: enough for every shard's share to sit within a few % of the mean. */
export const defaultPointsPerShard = 1024;

/** The ring as `GET /v1/cluster` publishes it; enough for a client to rebuild it. */
export interface RingSpec {
  readonly algorithm: 'md5-53';
  readonly shards: number;
  readonly pointsPerShard: number;
}

export class HashRing {
  readonly spec: RingSpec;
  // Invariant: #hashes sorted ascending; #owners[i] owns #hashes[i].
  readonly #hashes: Float64Array;
  readonly #owners: Uint16Array;

  constructor(shards: number, pointsPerShard = defaultPointsPerShard) {
    if (!Number.isInteger(shards) || shards < 1 || shards > 65_535)
      throw new RangeError('shards must be 1..65535');
    this.spec = { algorithm: 'md5-53', shards, pointsPerShard };
    const points: { hash: number; shard: number }[] = [];
    for (let shard = 0; shard < shards; shard++) {
      for (let p = 0; p < pointsPerShard; p++)
        points.push({ hash: hash53(`shard-${shard}-point-${p}`), shard });
    }
    // Ties (astronomically unlikely) break by shard so every builder agrees.
    points.sort((a, b) => a.hash - b.hash || a.shard - b.shard);
    this.#hashes = Float64Array.from(points, (p) => p.hash);
    this.#owners = Uint16Array.from(points, (p) => p.shard);
  }

  static fromSpec(spec: RingSpec): HashRing {
    if (spec.algorithm !== 'md5-53') throw new RangeError(`unknown ring algorithm ${String(spec.algorithm)}`);
    return new HashRing(spec.shards, spec.pointsPerShard);
  }

  /** The shard group that owns `key`. */
  shardOf(key: string): number {
    const h = hash53(key);
    let lo = 0;
    let hi = this.#hashes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#hashes[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.#owners[lo === this.#hashes.length ? 0 : lo]!;
  }
}
