/**
 * The key hash shared by nodes and clients: the first 53 bits of MD5 (Node's crypto), a safe
 * integer, uniformly spread. MD5 here is for placement, not security.
 */

import { createHash } from 'node:crypto';

/** Size of the hash space: points and keys hash into [0, 2^53). */
export const hashSpace = 2 ** 53;

/** Hashes a string (as UTF-8) to an integer in [0, 2^53). */
export function hash53(text: string): number {
  const d = createHash('md5').update(text, 'utf8').digest();
  return d.readUInt32BE(0) * 2 ** 21 + (d.readUInt32BE(4) >>> 11);
}
