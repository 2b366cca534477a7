/**
 * Sending one claim of this node's incarnation to one peer (node/identity.ts), over the peer
 * port with the cluster secret's MAC like every peer request.
 */

import { Agent, request } from 'undici';
import { peerAuthHeader, peerMac } from './peer-auth.js';
import { claimPath } from './peer-link.js';
import { type ClaimAnswer, decodeClaimAnswer, encodeClaim, wireVersion } from './wire.js';

export interface ClaimOptions {
  readonly clusterId: string;
  readonly self: string;
  readonly incarnation: string;
  readonly secret: string;
  readonly timeoutMs: number;
  /** For an https peer: the CA its certificate chains to, and our own certificate. */
  readonly tls?:
    | { readonly ca?: Buffer | undefined; readonly cert: Buffer; readonly key: Buffer }
    | undefined;
}

/**
 * The peer's answer, or null when it could not be reached, is not ready, or refused the request
 * (a wrong secret or cluster id is logged through `onRefused`).
 */
export async function sendClaim(
  url: string,
  o: ClaimOptions,
  onRefused: (status: number, body: string) => void,
): Promise<ClaimAnswer | null> {
  const dispatcher =
    o.tls === undefined
      ? undefined
      : new Agent({ connect: { ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key } });
  const body = encodeClaim({
    v: wireVersion,
    cluster: o.clusterId,
    from: o.self,
    incarnation: o.incarnation,
  });
  try {
    const res = await request(new URL(claimPath, url), {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/msgpack',
        [peerAuthHeader]: peerMac(o.secret, claimPath, body),
      },
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
      ...(dispatcher === undefined ? {} : { dispatcher }),
    });
    const raw = new Uint8Array(await res.body.arrayBuffer());
    if (res.statusCode === 503) return null;
    if (res.statusCode !== 200) {
      onRefused(res.statusCode, Buffer.from(raw).toString('utf8').slice(0, 200));
      return null;
    }
    const decoded = decodeClaimAnswer(raw);
    return decoded.ok ? decoded.value : null;
  } catch {
    return null;
  } finally {
    await dispatcher?.close();
  }
}
