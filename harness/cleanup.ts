/**
 * Synchronous clean-ups that must run however the process ends: node processes to SIGKILL,
 * namespaces and links to delete, a slot to release. Each owner registers a function and
 * unregisters it once it cleaned up normally; whatever is still registered runs on `exit`, and
 * `installSignalCleanup` (the runner) makes SIGINT/SIGTERM run them too before exiting.
 */

const pending = new Map<number, { what: string; run: () => void }>();
let nextId = 0;
let hooked = false;

/** Registers a clean-up; returns the function that unregisters it. */
export function onExit(what: string, run: () => void): () => void {
  if (!hooked) {
    hooked = true;
    process.once('exit', runPendingCleanups);
  }
  const id = nextId++;
  pending.set(id, { what, run });
  return () => {
    pending.delete(id);
  };
}

/** Runs (newest first) and forgets every registered clean-up; errors are reported, not thrown. */
export function runPendingCleanups(): void {
  const entries = [...pending.entries()].reverse();
  pending.clear();
  for (const [, { what, run }] of entries) {
    try {
      run();
    } catch (err) {
      process.stderr.write(`cleanup of ${what} failed: ${(err as Error).message}\n`);
    }
  }
}

/** SIGINT and SIGTERM run every clean-up, then exit with 130 / 143. */
export function installSignalCleanup(onSignal?: (signal: NodeJS.Signals) => void): void {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      onSignal?.(signal);
      runPendingCleanups();
      process.exit(code);
    });
  }
}
