/**
 * What applying a command answers, and the compact number form in which the session table
 * remembers an answer. A result says what happened to the state, nothing about transport.
 */

/**
 * The outcome of one applied write. `precondition_failed` (If-Match / If-None-Match did not hold)
 * and `not_found` (delete of an absent key) leave the state unchanged; `session_expired` means the
 * write was not applied now because its (client, seq) is too old or unknown for the session table
 * to tell whether it was applied before (see `SessionTable`).
 */
export type KVResult =
  | { readonly ok: true; readonly op: 'put'; readonly version: string }
  | { readonly ok: true; readonly op: 'delete' }
  /** A lease command applied; `ttlMs` is the lease's time to live (0 for a checkpoint). */
  | { readonly ok: true; readonly op: 'lease'; readonly ttlMs: number }
  | { readonly ok: false; readonly code: KVFailureCode };

/**
 * Why a write did not change the state. `lease_not_found`: a put named a lease the shard does
 * not hold, or a lease command named one it does not hold (never granted, revoked or expired);
 * `lease_exists`: a grant chose an id already taken.
 */
export type KVFailureCode =
  | 'precondition_failed'
  | 'not_found'
  | 'session_expired'
  | 'lease_not_found'
  | 'lease_exists';

/** The version of a write applied at log index `index`: its decimal form, e.g. "42". */
export function versionOf(index: number): string {
  return String(index);
}

const deleted = 0;
const preconditionFailed = -1;
const notFound = -2;
const leaseNotFound = -3;

/**
 * A remembered result as one number: a put's log index (≥ 1, from which its version follows),
 * 0 for a delete, -1, -2 and -3 for the failures. `session_expired` is never remembered, nor are
 * the results of lease commands (they carry no session).
 */
export function resultCode(result: KVResult): number {
  if (result.ok) {
    if (result.op === 'delete') return deleted;
    if (result.op === 'lease') throw new RangeError('a lease command has no session to remember it');
    const index = Number(result.version);
    if (!Number.isSafeInteger(index) || index < 1 || versionOf(index) !== result.version) {
      throw new RangeError(`version ${result.version} is not a log index`);
    }
    return index;
  }
  switch (result.code) {
    case 'precondition_failed':
      return preconditionFailed;
    case 'not_found':
      return notFound;
    case 'lease_not_found':
      return leaseNotFound;
    case 'session_expired':
    case 'lease_exists':
      throw new RangeError(`${result.code} is not a result to remember`);
  }
}

/** The result a `resultCode` stands for; null if `code` is none (e.g. from a corrupted snapshot). */
export function resultFromCode(code: number): KVResult | null {
  if (Number.isSafeInteger(code) && code >= 1) return { ok: true, op: 'put', version: versionOf(code) };
  switch (code) {
    case deleted:
      return { ok: true, op: 'delete' };
    case preconditionFailed:
      return { ok: false, code: 'precondition_failed' };
    case notFound:
      return { ok: false, code: 'not_found' };
    case leaseNotFound:
      return { ok: false, code: 'lease_not_found' };
    default:
      return null;
  }
}
