/**
 * Errors of the client library: one class, with the README's API code of the answer (or
 * `unreachable` when no node answered, `bad_reply` when an answer broke the protocol) and
 * whether the operation may have taken effect.
 */

import type { ErrorCode } from '../protocol/index.js';

/**
 * The code of an error: one of the API's error catalogue (README) (an unknown code in an answer is `internal`),
 * `unreachable` when no node answered in time, or `bad_reply` when an answer lacked what every
 * raftkv node sends (its X-Raft-* provenance, the ETag of a value, the JSON of a write): it did
 * not come from a raftkv node, or something between dropped part of it.
 */
export type RaftKVErrorCode = ErrorCode | 'unreachable' | 'bad_reply';

export class RaftKVError extends Error {
  override readonly name = 'RaftKVError';
  constructor(
    readonly code: RaftKVErrorCode,
    readonly status: number | null,
    message: string,
    /** True when a write may have been applied even though this error was returned. */
    readonly outcomeUnknown: boolean,
  ) {
    super(message);
  }
}
