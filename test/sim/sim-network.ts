/**
 * The simulated network between the members of one cluster: a queue of messages in flight,
 * keyed by the tick they arrive at. It owns loss, delay, duplication, reordering and partitions
 * (blocked directed links); it knows nothing of crashes, which the simulation handles on delivery.
 * Every choice comes from its own seeded stream.
 */
import type { Message, NodeId } from '../../src/raft/types.js';
import type { SimRandom } from './sim-random.js';

/** How badly the network behaves. Rates are per message, in permille. */
export interface NetworkFaults {
  readonly dropPermille: number;
  readonly duplicatePermille: number;
  /** A reordered message ignores the link's FIFO order and may take far longer than delayTicksMax. */
  readonly reorderPermille: number;
  readonly delayTicksMin: number;
  readonly delayTicksMax: number;
}

/** What happened to the messages handed to the network, for summaries. */
export interface NetworkCounts {
  sent: number;
  dropped: number;
  blocked: number;
  duplicated: number;
  reordered: number;
  delivered: number;
}

/** Observes every message's fate; used by the event trace. */
export type NetworkTrace = (event: 'drop' | 'block' | 'duplicate' | 'deliver', msg: Message) => void;

const linkKey = (from: NodeId, to: NodeId): string => `${from}>${to}`;

/** The network of one simulated cluster; `send` from Readys, `deliverDue` once per tick. */
export class SimNetwork {
  readonly #random: SimRandom;
  #faults: NetworkFaults;
  readonly #trace: NetworkTrace | null;
  // Invariant: every key is a tick later than the last tick passed to deliverDue().
  readonly #inflight = new Map<number, Message[]>();
  // Invariant: a link's FIFO messages arrive no earlier than the last one scheduled on it.
  readonly #lastArrivalTick = new Map<string, number>();
  readonly #blocked = new Set<string>();
  readonly counts: NetworkCounts = {
    sent: 0,
    dropped: 0,
    blocked: 0,
    duplicated: 0,
    reordered: 0,
    delivered: 0,
  };

  constructor(random: SimRandom, faults: NetworkFaults, trace: NetworkTrace | null = null) {
    this.#random = random;
    this.#faults = faults;
    this.#trace = trace;
  }

  get faults(): NetworkFaults {
    return this.#faults;
  }

  /** The longest a message sent now may be in flight (delay plus reordering), in ticks. */
  get flightTicksMax(): number {
    return 3 * this.#faults.delayTicksMax + 4;
  }

  /** Changes how the network behaves from now on; messages in flight keep their arrival tick. */
  setFaults(faults: NetworkFaults): void {
    this.#faults = faults;
  }

  /** Hands a message to the network at tick `now`; it arrives at a later tick, or never. */
  send(msg: Message, now: number): void {
    this.counts.sent++;
    if (this.isBlocked(msg.from, msg.to)) {
      this.counts.blocked++;
      this.#trace?.('block', msg);
      return;
    }
    if (this.#random.chance(this.#faults.dropPermille)) {
      this.counts.dropped++;
      this.#trace?.('drop', msg);
      return;
    }
    this.#schedule(msg, now);
    if (this.#random.chance(this.#faults.duplicatePermille)) {
      this.counts.duplicated++;
      this.#trace?.('duplicate', msg);
      this.#schedule(msg, now);
    }
  }

  /** Removes and returns the messages arriving at tick `now`, in arrival order. */
  deliverDue(now: number): Message[] {
    const due = this.#inflight.get(now);
    if (due === undefined) return [];
    this.#inflight.delete(now);
    const out: Message[] = [];
    for (const msg of due) {
      if (this.isBlocked(msg.from, msg.to)) {
        this.counts.blocked++;
        this.#trace?.('block', msg);
        continue;
      }
      this.counts.delivered++;
      this.#trace?.('deliver', msg);
      out.push(msg);
    }
    return out;
  }

  /** True when nothing crosses the directed link from → to. */
  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.#blocked.size > 0 && this.#blocked.has(linkKey(from, to));
  }

  /** Blocks the directed link from → to: nothing crosses it, in flight or later. */
  block(from: NodeId, to: NodeId): void {
    if (from !== to) this.#blocked.add(linkKey(from, to));
  }

  /** Blocks every link between members on different sides, both ways. */
  partition(sides: readonly (readonly NodeId[])[]): void {
    for (const [i, side] of sides.entries()) {
      for (const [j, other] of sides.entries()) {
        if (i === j) continue;
        for (const from of side) for (const to of other) this.block(from, to);
      }
    }
  }

  /** Cuts `id` off from every other member, both ways. */
  isolate(id: NodeId, members: readonly NodeId[]): void {
    this.partition([[id], members.filter((m) => m !== id)]);
  }

  /** True when some link is blocked. */
  isPartitioned(): boolean {
    return this.#blocked.size > 0;
  }

  /** The blocked links, as "from>to", for traces. */
  blockedLinks(): string[] {
    return [...this.#blocked];
  }

  /** Unblocks every link. */
  heal(): void {
    this.#blocked.clear();
  }

  #schedule(msg: Message, now: number): void {
    const { delayTicksMin, delayTicksMax, reorderPermille } = this.#faults;
    let arrival = now + this.#random.between(delayTicksMin, delayTicksMax);
    if (this.#random.chance(reorderPermille)) {
      this.counts.reordered++;
      arrival += this.#random.between(1, 2 * delayTicksMax + 4);
    } else {
      const key = linkKey(msg.from, msg.to);
      arrival = Math.max(arrival, this.#lastArrivalTick.get(key) ?? 0);
      this.#lastArrivalTick.set(key, arrival);
    }
    const bucket = this.#inflight.get(arrival);
    if (bucket === undefined) this.#inflight.set(arrival, [msg]);
    else bucket.push(msg);
  }
}
