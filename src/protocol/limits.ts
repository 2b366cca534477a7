/**
 * The limits of the client HTTP API (README) that callers see: how long a key may be and how many
 * keys one page of a listing holds. The API enforces them; the client and the CLI use the same
 * numbers for their defaults and checks.
 */

/** A key is 1 to this many bytes of UTF-8. */
export const keyBytesMax = 1024;

/** `GET /v1/kv?limit=N`: N from `listLimitMin` to `listLimitMax`, `listLimitDefault` if absent. */
export const listLimitMin = 1;
export const listLimitMax = 1000;
export const listLimitDefault = 100;

/** True when `limit` is a page size the list route accepts. */
export function isListLimit(limit: number): boolean {
  return Number.isInteger(limit) && limit >= listLimitMin && limit <= listLimitMax;
}
