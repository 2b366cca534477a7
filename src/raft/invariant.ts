/**
 * Broken invariants of the core. An invariant failing is a bug: the durable state is the truth,
 * so the process must stop rather than run on with a state it cannot trust.
 */

export class RaftInvariantError extends Error {
  override readonly name = 'RaftInvariantError';
}

/** Throws RaftInvariantError when `cond` is false. */
export function invariant(cond: boolean, msg: string | (() => string)): asserts cond {
  if (!cond) throw new RaftInvariantError(typeof msg === 'string' ? msg : msg());
}

/** For exhaustive switches over string-literal unions. */
export function assertNever(x: never): never {
  throw new RaftInvariantError(`unexpected value ${String(x)}`);
}
