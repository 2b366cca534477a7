/**
 * The error catalogue of the client HTTP API (README): every code with the one status it comes with,
 * and the JSON body an error is answered with. The API answers with these and the client reads
 * them back; neither spells a code or its status anywhere else.
 */

/** Each built code of the API's error table (README) and its HTTP status. */
export const errorStatuses = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  compacted: 410,
  precondition_failed: 412,
  too_large: 413,
  unavailable: 503,
  timeout: 504,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof errorStatuses;

/** True when `code` is one of the catalogue's codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(errorStatuses, code);
}

/** The body of every error answer: `{"error": {"code", "message"}}`. */
export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string };
}
