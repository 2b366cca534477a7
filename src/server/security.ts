/**
 * The security material of one node, read at start-up from what the cluster file's `security`
 * object names (paths relative to the cluster file; `{id}` in `cert`/`key` is this node's id):
 * the cluster secret (RAFTKV_CLUSTER_SECRET wins over `secretFile`), the API tokens, and the TLS
 * certificate, key and CA. Anything missing or unreadable is a ConfigError naming the file.
 */

import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ApiTokens } from '../api/tokens.js';
import { type ClusterConfig, ConfigError } from '../config/cluster-file.js';
import { peerSecretBytesMin } from '../transport/peer-auth.js';

export interface NodeTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
}

export interface NodeSecurity {
  readonly secret: string;
  /** The secret file this start created (`createSecret`), or null. */
  readonly secretCreated: string | null;
  readonly tokens: ApiTokens | null;
  readonly openRoutes: readonly ('metrics' | 'ui')[];
  /** The certificate, key and CA of the client port, when its URLs are https. */
  readonly apiTls: NodeTls | undefined;
  /** The same for the peer port (mutual TLS when it has a CA). */
  readonly peerTls: NodeTls | undefined;
  /** The CA other nodes' certificates chain to, for this node's requests to them. */
  readonly ca: Buffer | undefined;
}

export const secretEnv = 'RAFTKV_CLUSTER_SECRET';

export function loadSecurity(
  config: ClusterConfig,
  configPath: string,
  id: string,
  env: NodeJS.ProcessEnv = process.env,
): NodeSecurity {
  const s = config.security;
  const base = dirname(resolve(configPath));
  const read = (what: string, file: string): Buffer => {
    const path = resolve(base, file.replaceAll('{id}', id));
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(`cannot read the ${what} ${path}: ${(err as Error).message}`);
    }
  };

  const fromEnv = env[secretEnv];
  let secret: string;
  let secretCreated: string | null = null;
  if (fromEnv !== undefined && fromEnv !== '') secret = fromEnv.trim();
  else if (s.secretFile !== undefined) {
    const path = resolve(base, s.secretFile);
    if (s.createSecret && createSecretFile(path)) secretCreated = path;
    secret = read('cluster secret file', s.secretFile).toString('utf8').trim();
  } else
    throw new ConfigError(
      `no cluster secret: set ${secretEnv} or "security.secretFile" in the cluster file (the same on every node; see README "Securing a cluster")`,
    );
  if (Buffer.byteLength(secret) < peerSecretBytesMin)
    throw new ConfigError(`the cluster secret must be at least ${peerSecretBytesMin} bytes`);

  let tokens: ApiTokens | null = null;
  if (s.tokensFile !== undefined) {
    const text = read('tokens file', s.tokensFile).toString('utf8');
    try {
      tokens = ApiTokens.parse(text);
    } catch (err) {
      throw new ConfigError(`tokens file ${resolve(base, s.tokensFile)} ${(err as Error).message}`);
    }
  }

  const tls =
    s.tls === undefined
      ? undefined
      : {
          cert: read('TLS certificate', s.tls.cert),
          key: read('TLS key', s.tls.key),
          ca: s.tls.ca === undefined ? undefined : read('TLS CA', s.tls.ca),
        };
  const https = (u: string) => u.startsWith('https:');
  return {
    secret,
    secretCreated,
    tokens,
    openRoutes: s.openRoutes,
    apiTls: config.nodes.some((n) => https(n.api)) ? tls : undefined,
    peerTls: config.nodes.some((n) => https(n.peer)) ? tls : undefined,
    ca: tls?.ca,
  };
}

/**
 * Creates `path` with a random secret unless it exists; true if this call created it. Written to a
 * private temp file first and linked into place, so nodes racing to create it agree on one secret
 * and none reads a half-written file.
 */
function createSecretFile(path: string): boolean {
  if (existsSync(path)) return false;
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') return false;
    throw new ConfigError(`cannot create the cluster secret file ${path}: ${(err as Error).message}`);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {}
  }
}
