/**
 * A steady write workload with sessions (README "Retrying writes exactly once"): one loop per
 * key, each its own client, writing `${key}#${seq}` with `X-Raft-Client` and `X-Raft-Seq` and
 * retrying a write whose answer says nothing or an unknown outcome under the same pair until it
 * is acknowledged. Every key's last write is acknowledged, so its final value and version are
 * known exactly; the acknowledgement times give the longest stretch without one.
 */

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { sleep } from '../../harness/index.js';
import type { Reply, TestCluster } from './harness.js';
import { catalogueProblem } from './workload.js';

/** A write answered 200, and the pair it was sent under. */
export interface SessionAck {
  readonly key: string;
  readonly client: string;
  readonly seq: number;
  readonly value: string;
  readonly version: string;
  readonly shard: number;
  readonly endedMs: number;
}

export interface SessionWritersOptions {
  readonly keys: readonly string[];
  /** Pause after an acknowledged write: the workload's pace. */
  readonly pauseMs: number;
  /** Pause before retrying a write (through the next running node). */
  readonly retryPauseMs: number;
  /** How long stop() lets a loop go on retrying its last write before giving it up. */
  readonly finishMs: number;
}

/** Answers after which the same (client, seq) is retried: nothing done, or an unknown outcome. */
const retried = new Set([503, 504]);

export class SessionWriters {
  readonly acked: SessionAck[] = [];
  /** Answers a write of this workload must never get (off the catalogue, or a 4xx). */
  readonly unexpected: string[] = [];
  /** Keys whose last write was still not acknowledged when stop() gave up on it. */
  readonly unfinished: string[] = [];
  /** Attempts by outcome: "200", "503", "504", "ECONNREFUSED", ... */
  readonly outcomes = new Map<string, number>();
  /** Retried answers by node asked and error message, for the report. */
  readonly retriedAnswers = new Map<string, number>();
  readonly #cl: TestCluster;
  readonly #o: SessionWritersOptions;
  readonly #run = randomUUID().slice(0, 8);
  #stopped = false;
  #finishByMs = Number.POSITIVE_INFINITY;
  #loops: Promise<void>[] = [];

  constructor(cl: TestCluster, o: SessionWritersOptions) {
    this.#cl = cl;
    this.#o = o;
  }

  start(): void {
    this.#loops = this.#o.keys.map((key, i) => this.#loop(key, `membership-${this.#run}-k${i}`, i));
  }

  /** Ends every loop after its current write is acknowledged (or `finishMs` passed). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#finishByMs = performance.now() + this.#o.finishMs;
    await Promise.all(this.#loops);
  }

  /** Each key's last acknowledged write. */
  lastAcked(): Map<string, SessionAck> {
    const last = new Map<string, SessionAck>();
    for (const a of this.acked) last.set(a.key, a);
    return last;
  }

  /** Acknowledged writes of `key`, in order. */
  ackedOf(key: string): SessionAck[] {
    return this.acked.filter((a) => a.key === key);
  }

  /** The longest time between two successive acknowledgements (of `shard`, if given) ending after `sinceMs`. */
  longestGapMs(sinceMs: number, shard?: number): number {
    const ends = this.acked
      .filter((a) => (shard === undefined || a.shard === shard) && a.endedMs >= sinceMs)
      .map((a) => a.endedMs)
      .sort((a, b) => a - b);
    let gap = 0;
    for (let i = 1; i < ends.length; i++) gap = Math.max(gap, ends[i]! - ends[i - 1]!);
    return gap;
  }

  summary(): string {
    const outcomes = [...this.outcomes].map(([k, v]) => `${k}: ${v}`).join(', ');
    const retried = [...this.retriedAnswers].map(([k, v]) => `${v}× ${k}`).join(' | ');
    return `${this.acked.length} acknowledged over ${this.#o.keys.length} keys [${outcomes}]${retried === '' ? '' : ` (retried: ${retried})`}`;
  }

  #count(label: string): void {
    this.outcomes.set(label, (this.outcomes.get(label) ?? 0) + 1);
  }

  async #loop(key: string, client: string, first: number): Promise<void> {
    let turn = first;
    for (let seq = 1; !this.#stopped; seq++) {
      const value = `${key}#${seq}`;
      for (;;) {
        if (performance.now() > this.#finishByMs) {
          this.unfinished.push(`${key} seq ${seq}`);
          return;
        }
        const nodes = this.#cl.running();
        const node = nodes[turn++ % nodes.length]!;
        let r: Reply | null = null;
        try {
          r = await this.#cl.put(key, value, {
            node,
            timeoutMs: 5_000,
            headers: { 'x-raft-client': client, 'x-raft-seq': String(seq) },
          });
        } catch (err) {
          const e = err as { code?: string; name?: string; cause?: { code?: string } };
          this.#count(e.code ?? e.cause?.code ?? e.name ?? 'error');
        }
        if (r !== null) this.#count(String(r.status));
        if (r?.status === 200) {
          this.acked.push({
            key,
            client,
            seq,
            value,
            version: r.json<{ version: string }>().version,
            shard: Number(r.headers['x-raft-shard']),
            endedMs: performance.now(),
          });
          break;
        }
        if (r !== null && !retried.has(r.status)) {
          this.unexpected.push(`PUT ${value} through ${node}: ${r.status} ${r.text().slice(0, 200)}`);
          break;
        }
        if (r !== null) {
          const problem = catalogueProblem(r);
          const why =
            problem === null
              ? `${r.status} through ${node}: ${r.json<{ error: { message: string } }>().error.message}`
              : `PUT ${value} through ${node}: ${problem}`;
          if (problem !== null) this.unexpected.push(why);
          else this.retriedAnswers.set(why, (this.retriedAnswers.get(why) ?? 0) + 1);
        }
        await sleep(this.#o.retryPauseMs);
      }
      if (!this.#stopped) await sleep(this.#o.pauseMs);
    }
  }
}
