/**
 * Peer authentication: every request between nodes carries an HMAC-SHA256 of its path and body
 * keyed with the cluster secret, checked in constant time before the body is even decoded. A
 * node without the secret can neither forge nor alter a message; a replayed request is only a
 * duplicated message, which Raft already tolerates.
 */

import { createHmac, timingSafeEqual } from 'node:crypto';

/** The request header that carries the MAC, as lowercase hex. */
export const peerAuthHeader = 'x-raftkv-mac';

/** The shortest secret a node accepts, in bytes. */
export const peerSecretBytesMin = 16;

/** The MAC of one peer request. */
export function peerMac(secret: string, path: string, body: Uint8Array): string {
  return createHmac('sha256', secret).update(path).update('\n').update(body).digest('hex');
}

/** Whether `mac` (the header as received, possibly absent) is the right one; constant time. */
export function peerMacValid(
  secret: string,
  path: string,
  body: Uint8Array,
  mac: string | string[] | undefined,
): boolean {
  if (typeof mac !== 'string' || !/^[0-9a-f]{64}$/.test(mac)) return false;
  return timingSafeEqual(Buffer.from(peerMac(secret, path, body), 'hex'), Buffer.from(mac, 'hex'));
}
