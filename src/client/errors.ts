/**
 * Errors of the client library: one class, with the API.md code of the answer (or
 * `unreachable` when no node answered) and whether the operation may have taken effect.
 */

export type RaftKVErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'precondition_failed'
  | 'too_large'
  | 'unavailable'
  | 'timeout'
  | 'unreachable'
  | 'internal';

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
