/**
 * Session lanes for exactly-once writes. Every write runs in a lane: a client id with its own
 * sequence numbers and at most one write in flight, so a retry always repeats the lane's newest
 * sequence number, which the shard's session table is sure to remember. Each shard keeps its own
 * session table, so lanes belong to one shard and count 1, 2, 3… there. Lanes are reused, so a
 * client creates about as many sessions as it has writes in flight to a shard at once.
 */

export interface Lane {
  readonly shard: number;
  readonly client: string;
  seq: number;
}

export class Lanes {
  readonly #base: string;
  /** Free lanes by shard. */
  readonly #free = new Map<number, Lane[]>();
  #created = 0;

  constructor(base: string) {
    this.#base = base;
  }

  acquire(shard: number): Lane {
    const lane = this.#free.get(shard)?.pop() ?? {
      shard,
      client: `${this.#base}.${this.#created++}`,
      seq: 0,
    };
    lane.seq++;
    return lane;
  }

  release(lane: Lane): void {
    const free = this.#free.get(lane.shard);
    if (free === undefined) this.#free.set(lane.shard, [lane]);
    else free.push(lane);
  }
}
