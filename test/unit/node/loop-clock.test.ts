/**
 * LoopClock: periodic callbacks run even while the event loop is held in one long phase, as long
 * as I/O calls keepTime(); never faster than their period, never catching up time not observed.
 */

import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import type { Cancel } from '../../../src/node/clock.js';
import { LoopClock } from '../../../src/node/loop-clock.js';

const periodMs = 40;

/** Burns CPU for `ms`: the loop is held, as by a callback doing client work. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/**
 * Holds the event loop for `ms` in one macrotask made of many short steps with microtask
 * boundaries between them (like a long I/O phase made of many callbacks): timers cannot run.
 * Each step calls `between` (keepTime, or nothing).
 */
async function holdLoop(ms: number, between: () => void): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    busy(1);
    between();
    await Promise.resolve();
  }
}

/** Resolves after the next timers phase (the loop is free again). */
const nextTimers = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('LoopClock', () => {
  let cancel: Cancel | null = null;
  afterEach(() => {
    cancel?.();
    cancel = null;
  });

  it('runs its periodic callback by its timer while the loop is free, and keepTime adds nothing', async () => {
    const clock = new LoopClock();
    const runs: number[] = [];
    cancel = clock.every(periodMs, () => runs.push(performance.now()));
    const end = performance.now() + 10 * periodMs;
    while (performance.now() < end) {
      clock.keepTime();
      await nextTimers();
    }
    expect(clock.keptTicks).toBe(0);
    expect(runs.length).toBeGreaterThanOrEqual(7);
    expect(runs.length).toBeLessThanOrEqual(11);
  });

  it('while the loop is held, keepTime runs the periodic callback once per period', async () => {
    const clock = new LoopClock();
    const runs: number[] = [];
    cancel = clock.every(periodMs, () => runs.push(performance.now()));
    await nextTimers();
    const heldFor = 20 * periodMs;
    const start = performance.now();
    await holdLoop(heldFor, () => clock.keepTime());
    const during = runs.filter((t) => t >= start);
    // Late after 3 periods, then one run per period: about 18 in 20 periods, never more than 20.
    expect(during.length).toBeGreaterThanOrEqual(14);
    expect(during.length).toBeLessThanOrEqual(20);
    expect(clock.keptTicks).toBe(during.length);
    // Once the loop is free the timer takes over without running twice within half a period.
    await new Promise((resolve) => setTimeout(resolve, 3 * periodMs));
    const gaps = runs.slice(1).map((t, i) => t - runs[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(periodMs / 2 - 1);
  });

  it('without keepTime, a held loop runs nothing until the timers phase comes', async () => {
    const clock = new LoopClock();
    const runs: number[] = [];
    cancel = clock.every(periodMs, () => runs.push(performance.now()));
    await nextTimers();
    const start = performance.now();
    await holdLoop(10 * periodMs, () => undefined);
    expect(runs.filter((t) => t >= start)).toEqual([]);
  });

  it('does not make up periods the process did not observe: one run per keepTime at most', async () => {
    const clock = new LoopClock();
    let runs = 0;
    cancel = clock.every(periodMs, () => runs++);
    await nextTimers();
    busy(12 * periodMs);
    clock.keepTime();
    clock.keepTime();
    expect(runs).toBe(1);
  });

  it('soon() runs after the current step while the loop is held, and after I/O once it is free', async () => {
    const clock = new LoopClock();
    cancel = clock.every(periodMs, () => undefined);
    await nextTimers();
    // Free loop: soon is setImmediate, after a promise queued behind it.
    const order: string[] = [];
    clock.soon(() => order.push('soon'));
    await Promise.resolve().then(() => order.push('microtask'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['microtask', 'soon']);
    // Held loop: the timers phase is late, so soon runs at the next microtask boundary.
    let ranWhileHeld = false;
    await holdLoop(5 * periodMs, () => {
      if (clock.late && !ranWhileHeld) clock.soon(() => (ranWhileHeld = true));
    });
    expect(ranWhileHeld).toBe(true);
  });
});
