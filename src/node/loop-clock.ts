/**
 * The clock a serving node runs on: Node's timers, plus a way around the one thing they cannot
 * do, run while the event loop is busy with I/O.
 *
 * Timers run only between I/O phases. A burst of client work (thousands of connections opened at
 * once) keeps the loop in one I/O phase for hundreds of milliseconds on a small machine; a
 * leader's tick would wait for all of it and its followers, hearing no heartbeat, would elect
 * another leader. So the node calls keepTime() as I/O reaches it (a connection, a request, a
 * peer frame): any periodic callback that is due runs right there, and while the timers phase is
 * late, `soon` means "after this callback" instead of "after all of this phase's I/O", so the
 * heartbeats the tick produced leave at once.
 *
 * Time that was not observed is not made up: a callback runs at most once per keepTime() and at
 * most once per period, never to catch up periods that passed while the process itself was held
 * (a follower paused for a second must not count a second of silence in one go).
 */

import { performance } from 'node:perf_hooks';
import type { Cancel, Clock } from './clock.js';

interface Periodic {
  readonly ms: number;
  readonly fn: () => void;
  /** When fn last ran, by the timer or by keepTime (performance.now()). */
  ranAt: number;
}

export class LoopClock implements Clock {
  readonly #periodic = new Set<Periodic>();
  /** When a timer last fired: the loop's timers phase last ran then. */
  #timersRanAt = performance.now();
  /**
   * The timers phase is late once it has not run for three periods of the fastest periodic
   * callback (120 ms for the default 40 ms tick): far from an election timeout (ten ticks at
   * least), and rarer than the longest turns of a loop that is merely busy, which keep batching.
   */
  #lateAfterMs = Number.POSITIVE_INFINITY;
  /** Periodic callbacks run by keepTime, for metrics. */
  keptTicks = 0;

  now(): number {
    return Date.now();
  }

  every(ms: number, fn: () => void): Cancel {
    const p: Periodic = { ms, fn, ranAt: performance.now() };
    this.#periodic.add(p);
    this.#lateAfterMs = Math.min(this.#lateAfterMs, 3 * ms);
    const t = setInterval(() => {
      const now = performance.now();
      this.#timersRanAt = now;
      // keepTime ran it moments ago, while the loop was busy: not twice in one period.
      if (now - p.ranAt < ms / 2) return;
      p.ranAt = now;
      fn();
    }, ms);
    return () => {
      clearInterval(t);
      this.#periodic.delete(p);
    };
  }

  after(ms: number, fn: () => void): Cancel {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  }

  /**
   * After this turn's I/O callbacks; while the timers phase is late (the loop is stuck in a long
   * I/O phase), right after the current callback instead, so what a kept tick sends leaves now.
   */
  soon(fn: () => void): void {
    if (this.late) queueMicrotask(fn);
    else setImmediate(fn);
  }

  /** Whether the timers phase has not run for three periods of the fastest periodic callback. */
  get late(): boolean {
    return performance.now() - this.#timersRanAt > this.#lateAfterMs;
  }

  /**
   * Called as I/O reaches the node: runs each periodic callback whose period has passed since it
   * last ran, once, here and now (it would otherwise wait for the timers phase).
   */
  keepTime(): void {
    if (!this.late) return;
    const now = performance.now();
    for (const p of this.#periodic) {
      if (now - p.ranAt < p.ms) continue;
      p.ranAt = now;
      this.keptTicks++;
      p.fn();
    }
  }
}
