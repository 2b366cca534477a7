/**
 * Watchers for a fault round: each follows the round's keys through the client library's
 * `watch` (which reconnects and resumes from its cursor by itself), starting at a different node,
 * and records every event it is given. A `410 compacted` ends a segment: the refusal is recorded
 * with its message and the watcher starts again from now, in a new segment. watch-checker.ts
 * judges the records against the client history.
 */

import { RaftKV, RaftKVError, type WatchEvent } from '../../src/client/index.js';

export interface WatchRecord {
  readonly watcher: number;
  readonly segment: number;
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly value: string | null;
  readonly shard: number;
  readonly index: number;
  /** When it arrived, in ms since the round began. */
  readonly at: number;
}

export interface Compaction {
  readonly watcher: number;
  readonly segment: number;
  /** The cursor the refused resume carried. */
  readonly cursor: string | null;
  readonly message: string;
  readonly at: number;
}

export class Watchers {
  readonly records: WatchRecord[] = [];
  readonly compactions: Compaction[] = [];
  /** Errors other than a compaction that ended a watcher. */
  readonly errors: string[] = [];
  readonly #stop = new AbortController();
  readonly #running: Promise<void>[] = [];

  constructor(count: number, endpoints: () => readonly string[], prefix: string, now: () => number) {
    for (let w = 0; w < count; w++) this.#running.push(this.#watch(w, endpoints, prefix, now));
  }

  async #watch(
    w: number,
    endpoints: () => readonly string[],
    prefix: string,
    now: () => number,
  ): Promise<void> {
    const all = endpoints();
    // Each watcher starts at another node; the client library moves on from there as nodes fail.
    const rotated = [...all.slice(w % all.length), ...all.slice(0, w % all.length)];
    const kv = new RaftKV({ endpoints: rotated });
    let segment = 0;
    let cursor: string | null = null;
    try {
      while (!this.#stop.signal.aborted) {
        try {
          const options = { signal: this.#stop.signal, ...(cursor === null ? {} : { cursor }) };
          for await (const e of kv.watch(prefix, options)) this.#record(w, segment, e, now());
          return;
        } catch (err) {
          if (this.#stop.signal.aborted) return;
          if (err instanceof RaftKVError && err.code === 'compacted') {
            this.compactions.push({ watcher: w, segment, cursor, message: err.message, at: now() });
            segment++;
            cursor = null;
            continue;
          }
          this.errors.push(`watcher ${w}: ${(err as Error).message}`);
          return;
        } finally {
          cursor = this.#lastCursor.get(w) ?? cursor;
        }
      }
    } finally {
      await kv.close();
    }
  }

  readonly #lastCursor = new Map<number, string>();

  #record(watcher: number, segment: number, e: WatchEvent, at: number): void {
    this.#lastCursor.set(watcher, e.cursor);
    this.records.push({
      watcher,
      segment,
      type: e.type,
      key: e.key,
      value: e.value === null ? null : Buffer.from(e.value).toString('utf8'),
      shard: e.shard,
      index: e.index,
      at,
    });
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.all(this.#running);
  }
}
