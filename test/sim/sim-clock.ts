/**
 * A member's Clock in the simulator: time is the simulation's tick times the tick length, and
 * nothing runs by itself. `soon` callbacks (the drive loop's turns) and due timers wait until
 * the simulation runs them with `runDue`, at the point of the tick it chooses, so one seed
 * replays the same run.
 */
import type { Cancel, Clock } from '../../src/node/clock.js';

interface Timer {
  dueMs: number;
  readonly everyMs: number | null;
  readonly fn: () => void;
  cancelled: boolean;
}

export class SimClock implements Clock {
  readonly #nowMs: () => number;
  #soon: (() => void)[] = [];
  #timers: Timer[] = [];

  /** `nowMs` reads the simulation's time. */
  constructor(nowMs: () => number) {
    this.#nowMs = nowMs;
  }

  now(): number {
    return this.#nowMs();
  }

  every(ms: number, fn: () => void): Cancel {
    return this.#add({ dueMs: this.now() + ms, everyMs: ms, fn, cancelled: false });
  }

  after(ms: number, fn: () => void): Cancel {
    return this.#add({ dueMs: this.now() + ms, everyMs: null, fn, cancelled: false });
  }

  soon(fn: () => void): void {
    this.#soon.push(fn);
  }

  /**
   * Runs the timers due by now, in the order they were set, then the `soon` callbacks queued so
   * far; returns whether anything ran.
   */
  runDue(): boolean {
    if (this.#soon.length === 0 && this.#timers.length === 0) return false;
    const now = this.now();
    for (const t of this.#timers) {
      if (t.cancelled || t.dueMs > now) continue;
      if (t.everyMs === null) t.cancelled = true;
      else t.dueMs = now + t.everyMs;
      t.fn();
    }
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    const soon = this.#soon;
    this.#soon = [];
    for (const fn of soon) fn();
    return true;
  }

  /** The process died: nothing it asked for runs. */
  clear(): void {
    this.#soon = [];
    for (const t of this.#timers) t.cancelled = true;
    this.#timers = [];
  }

  #add(timer: Timer): Cancel {
    this.#timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }
}
