/**
 * The errors of the key-value state machine. Each one is a bug or corrupted input, never an
 * expected outcome: expected outcomes (a failed precondition, an absent key) are `KVResult` values.
 * Replicas must stop on these rather than diverge.
 */

/** A command that is malformed: refused by `encodeCommand`, or found in the log by `decodeCommand`. */
export class KVCommandError extends Error {
  override readonly name = 'KVCommandError';
}

/** Snapshot bytes that do not describe a valid state; thrown by `KVStateMachine.restore`. */
export class KVSnapshotError extends Error {
  override readonly name = 'KVSnapshotError';
}

/** A broken rule of the state machine's use, e.g. entries applied out of order. */
export class KVInvariantError extends Error {
  override readonly name = 'KVInvariantError';
}
