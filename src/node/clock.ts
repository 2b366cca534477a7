/**
 * The node's only way to read time and to be called back later. The real clock is a LoopClock
 * (Node's timers); the simulator (test/sim) passes one it advances itself, so the same drive loop, groups and
 * waiters run there, one seed replaying a whole run.
 */

/** Cancels a callback registered with a Clock; calling it again does nothing. */
export type Cancel = () => void;

export interface Clock {
  /** Milliseconds since the epoch: deadlines, rates and the `nowMs` of status. */
  now(): number;
  /** Calls `fn` every `ms` milliseconds until cancelled. */
  every(ms: number, fn: () => void): Cancel;
  /** Calls `fn` once, `ms` milliseconds from now, unless cancelled first. */
  after(ms: number, fn: () => void): Cancel;
  /** Calls `fn` once the current event-loop turn is over (after its I/O callbacks). */
  soon(fn: () => void): void;
  /**
   * Called as I/O reaches the node: runs periodic callbacks that a busy event loop holds back
   * (LoopClock). The simulator's clock, which advances itself, has none.
   */
  keepTime?(): void;
}
