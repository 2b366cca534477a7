/**
 * Waiting on conditions with deadlines, never fixed sleeps: poll, and fail with what was awaited
 * and the last error seen. Also the one `sleep`, for pacing only.
 */

import { performance } from 'node:perf_hooks';

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /** What is awaited, for the timeout message. */
  readonly what?: string;
}

/**
 * Resolves after `ms`: for pacing (a writer's pause between requests, a phase that lasts a given
 * time), never for waiting on something that can be observed; use waitFor() for that.
 */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `cond` until it returns a value other than false/null/undefined, and resolves with it;
 * rejects after the deadline with `what` and the last error `cond` threw. With `fatal`, an error
 * thrown by `cond` ends the wait at once.
 */
export async function waitFor<T>(
  cond: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  o: WaitOptions & { fatal?: boolean } = {},
): Promise<T> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const v = await cond();
      if (v !== false && v !== null && v !== undefined) return v;
    } catch (err) {
      if (o.fatal === true) throw err;
      lastError = err;
    }
    if (performance.now() >= deadline) {
      const why = lastError === null ? '' : ` (last error: ${(lastError as Error).message})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${o.what ?? 'a condition'}${why}`);
    }
    await sleep(o.intervalMs ?? 25);
  }
}
