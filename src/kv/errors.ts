/**
 * The errors of the key-value state machine. Each one is a bug or corrupted input, never an
 * expected outcome: expected outcomes (a failed precondition, an absent key) are `KvResult` values.
 * Replicas must stop on these rather than diverge.
 */

/** A command that is malformed: refused by `encodeCommand`, or found in the log by `decodeCommand`. */
export class KvCommandError extends Error {
  override readonly name = 'KvCommandError';
}

/** Snapshot bytes that do not describe a valid state; thrown by `KvStateMachine.restore`. */
export class KvSnapshotError extends Error {
  override readonly name = 'KvSnapshotError';
}

/** A broken rule of the state machine's use, e.g. entries applied out of order. */
export class KvInvariantError extends Error {
  override readonly name = 'KvInvariantError';
}

/** Throws KvInvariantError when `cond` is false. */
export function invariant(cond: boolean, msg: string | (() => string)): asserts cond {
  if (!cond) throw new KvInvariantError(typeof msg === 'string' ? msg : msg());
}
