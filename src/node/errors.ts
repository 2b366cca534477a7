/**
 * The error catalogue of README's API, one named class with a stable code and status. The node and the
 * API throw these; the API maps them to HTTP in one place.
 */

import { groupName } from '../membership/index.js';

export type KVErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'compacted'
  | 'precondition_failed'
  | 'too_large'
  | 'unavailable'
  | 'timeout';

export class KVError extends Error {
  override readonly name = 'KVError';
  constructor(
    readonly code: KVErrorCode,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (message: string) => new KVError('bad_request', 400, message);
export const notFound = (key: string) =>
  new KVError('not_found', 404, `key ${JSON.stringify(key)} not found`);
/** The lease is not held (never granted, revoked, or expired): nothing was done. */
export const leaseNotFound = (lease: string) =>
  new KVError(
    'not_found',
    404,
    `lease ${lease} not found (never granted, revoked, or expired); nothing was done`,
  );
/** Another membership change of the shard is pending; nothing was done. */
export const conflict = (message: string) => new KVError('conflict', 409, message);
export const preconditionFailed = (message: string) => new KVError('precondition_failed', 412, message);
export const tooLarge = (bytesMax: number) =>
  new KVError('too_large', 413, `value is larger than ${bytesMax} bytes`);
/** Nothing was done: safe to retry. */
export const unavailable = (message: string) => new KVError('unavailable', 503, message);
/** Proposed, outcome unknown: it may or may not take effect. */
export const outcomeUnknown = (message: string) => new KVError('timeout', 504, message);

/**
 * This node is not (or no longer) the shard's leader, and nothing was proposed: the caller may
 * route the request to the leader instead. Not part of the catalogue; never reaches a client.
 */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError';
  /** `leader`: the leader the refusing node knows, when another node refused (node/remote.ts). */
  constructor(
    readonly shard: number,
    readonly leader: string | null = null,
  ) {
    super(`this node is not the leader of ${groupName(shard)}`);
  }
}
