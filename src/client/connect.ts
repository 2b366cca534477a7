/**
 * How every HTTP caller of a raftkv cluster (the client library, the CLI, the load generator)
 * presents its API token and trusts a private CA.
 */

import { Agent } from 'undici';

/** The Authorization header of an API token, if there is one. */
export const authHeaders = (c: { readonly token?: string | undefined }): Record<string, string> =>
  c.token === undefined ? {} : { authorization: `Bearer ${c.token}` };

/** An undici Agent that trusts `ca` (PEM) besides the system's roots, when given. */
export const agentFor = (
  c: { readonly ca?: string | Uint8Array | undefined },
  o: Agent.Options = {},
): Agent =>
  new Agent({
    ...o,
    connect: c.ca === undefined ? {} : { ca: typeof c.ca === 'string' ? c.ca : Buffer.from(c.ca) },
  });
