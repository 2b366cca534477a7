/**
 * The command line's exit codes (the contract in README "Running a node" and the CLI's help):
 * scripts can tell a missing key from a failure, and a mistyped command from both.
 */
export const exitCodes = {
  /** Done. */
  ok: 0,
  /** Refused or failed: a node refused to start, the cluster refused the request (a condition
   * did not hold, no token, unavailable), or nothing answered; the message says which. */
  failed: 1,
  /** The command line itself was wrong: an unknown command or option, a missing or bad argument. */
  usage: 2,
  /** The key does not exist (`get`, `del`). */
  notFound: 3,
} as const;
