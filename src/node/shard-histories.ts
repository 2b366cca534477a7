/**
 * The change history (change-history.ts) of every shard replica on this node, wired to the
 * replica's state machine: the machines a group makes through `machineFor` tell their history
 * every change they apply, and a machine made from a snapshot (at start, or installed from a
 * leader) moves the history's floor to the snapshot's index.
 */

import { KVStateMachine } from '../kv/index.js';
import { ChangeHistory, type HistoryBounds } from './change-history.js';
import type { StateMachineFactory } from './state-machine.js';

/** Bytes of keys and values one replica's history keeps at most. */
export const watchHistoryBytesMax = 64 * 1024 * 1024;

export class ShardHistories {
  readonly #bounds: HistoryBounds;
  readonly #now: () => number;
  readonly #byShard = new Map<number, ChangeHistory>();

  constructor(bounds: Omit<HistoryBounds, 'bytes'>, now: () => number) {
    this.#bounds = { ...bounds, bytes: watchHistoryBytesMax };
    this.#now = now;
  }

  /** The shard's history on this node (empty, floor 0, until a replica of it applies something). */
  of(shard: number): ChangeHistory {
    let h = this.#byShard.get(shard);
    if (h === undefined) {
      h = new ChangeHistory(this.#bounds, this.#now);
      this.#byShard.set(shard, h);
    }
    return h;
  }

  /** The shard's replica here is gone: its followers resume elsewhere. */
  end(shard: number): void {
    this.#byShard.get(shard)?.end();
  }

  /**
   * How the shard's replica makes its machine: wired to the shard's history, and to whatever
   * else follows each new machine (`alsoWire`: the shard's lease timers).
   */
  machineFor(
    shard: number,
    alsoWire: (m: KVStateMachine) => void = () => {},
  ): StateMachineFactory<KVStateMachine> {
    const wire = (m: KVStateMachine) => {
      const h = this.of(shard);
      h.reset(m.appliedIndex);
      m.onChange((c) => h.append(c));
      alsoWire(m);
      return m;
    };
    return {
      empty: () => wire(new KVStateMachine()),
      restore: (data) => wire(KVStateMachine.restore(data)),
    };
  }
}
