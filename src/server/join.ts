/**
 * `serve --join`: a new node asks a running cluster to add it (README "Growing and shrinking the
 * cluster"). While it asks, its API port answers /healthz as this node, so the cluster can check
 * that the address it gives is really its own. The answer (the cluster's settings and its nodes)
 * is kept in the data directory with the incarnation the request carried: a restart finds it and
 * does not ask again; from then on the node follows the cluster's node table.
 */

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { ClusterAuth } from '../api/cluster-auth.js';
import { type ClusterConfig, parseClusterConfig } from '../config/cluster-file.js';
import { StartupError } from '../node/node.js';

export interface JoinRequest {
  readonly urls: readonly string[];
  readonly id: string;
  readonly api: string;
  readonly peer: string;
  readonly secret: string;
  /** The `security` object to run with (from --config), if any. */
  readonly security: ClusterConfig['security'] | undefined;
  readonly bind: string | undefined;
  readonly tls?:
    | { readonly cert: Buffer; readonly key: Buffer; readonly ca?: Buffer | undefined }
    | undefined;
}

export interface Joined {
  readonly config: ClusterConfig;
  /** The incarnation the join carried; the new data directory is created with it. */
  readonly incarnation: string;
  /** This node's URLs as it joined with them. */
  readonly api: string;
  readonly peer: string;
}

/** What a node that joined before keeps in its data directory, or null when it never joined. */
export function savedJoin(dataDir: string, security: ClusterConfig['security'] | undefined): Joined | null {
  const path = join(dataDir, joinedFile);
  if (!existsSync(path)) return null;
  const saved = JSON.parse(readFileSync(path, 'utf8')) as {
    incarnation: string;
    cluster: unknown;
    api: string;
    peer: string;
  };
  return {
    config: configOf(saved.cluster, security),
    incarnation: saved.incarnation,
    api: saved.api,
    peer: saved.peer,
  };
}

/** The file in the data directory that holds the join's answer. */
export const joinedFile = 'joined.json';
/** How long a node keeps asking while the members it names do not answer or have no leader. */
export const joinTryMs = 60_000;
/** The pause between tries. */
export const joinRetryMs = 1_000;

/** The joined cluster's settings: from the data directory if this node joined before, else by asking. */
export async function joinCluster(r: JoinRequest, dataDir: string): Promise<Joined> {
  const path = join(dataDir, joinedFile);
  const saved = savedJoin(dataDir, r.security);
  if (saved !== null) return saved;
  const incarnation = randomBytes(8).toString('hex');
  const answer = await withHealthResponder(r, () => ask(r, incarnation));
  const config = configOf(answer.cluster, r.security);
  if (answer.tokens && config.security.tokensFile === undefined)
    throw new StartupError(
      'this cluster uses API tokens: start the node with --config naming a cluster file whose "security" has the tokensFile',
    );
  writeFileSync(
    `${path}.tmp`,
    JSON.stringify({ incarnation, cluster: answer.cluster, api: r.api, peer: r.peer }, null, 2),
  );
  renameSync(`${path}.tmp`, path);
  return { config, incarnation, api: r.api, peer: r.peer };
}

function configOf(cluster: unknown, security: ClusterConfig['security'] | undefined): ClusterConfig {
  return parseClusterConfig(
    { ...(cluster as object), ...(security === undefined ? {} : { security }) },
    'join answer',
  );
}

interface JoinAnswer {
  readonly cluster: unknown;
  readonly tokens: boolean;
}

async function ask(r: JoinRequest, incarnation: string): Promise<JoinAnswer> {
  const auth = new ClusterAuth(r.secret);
  const body = JSON.stringify({ id: r.id, api: r.api, peer: r.peer, incarnation });
  const dispatcher = r.tls?.ca === undefined ? undefined : new Agent({ connect: { ca: r.tls.ca } });
  const deadline = Date.now() + joinTryMs;
  let last = '';
  try {
    for (;;) {
      for (const url of r.urls) {
        try {
          const res = await request(new URL('/v1/admin/nodes', url), {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/json', ...auth.headers('POST', '/v1/admin/nodes') },
            headersTimeout: 30_000,
            bodyTimeout: 30_000,
            ...(dispatcher === undefined ? {} : { dispatcher }),
          });
          const text = await res.body.text();
          if (res.statusCode === 200) return JSON.parse(text) as JoinAnswer;
          const message = messageOf(text);
          if (res.statusCode === 401 || res.statusCode === 403)
            throw new StartupError(`${url} refused this node's cluster secret (${message})`);
          if (res.statusCode === 400 || res.statusCode === 409)
            throw new StartupError(`the cluster refused to add node ${r.id}: ${message}`);
          last = `${url}: ${res.statusCode} ${message}`;
        } catch (err) {
          if (err instanceof StartupError) throw err;
          last = `${url}: ${(err as { code?: string }).code ?? (err as Error).message}`;
        }
      }
      if (Date.now() > deadline)
        throw new StartupError(`could not join the cluster in ${joinTryMs / 1000} s (${last})`);
      await new Promise((resolve) => setTimeout(resolve, joinRetryMs));
    }
  } finally {
    await dispatcher?.close();
  }
}

function messageOf(text: string): string {
  try {
    return (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text.slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}

/** Runs `fn` while this node's API port answers GET /healthz with its id. */
async function withHealthResponder<T>(r: JoinRequest, fn: () => Promise<T>): Promise<T> {
  const handler = (req: { url?: string }, res: import('node:http').ServerResponse) => {
    const ok = req.url === '/healthz';
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ok ? { ok: true, id: r.id, joining: true } : { error: { code: 'unavailable' } }));
  };
  const url = new URL(r.api);
  const server =
    url.protocol === 'https:' && r.tls !== undefined
      ? createHttpsServer(r.tls, handler)
      : createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: Error & { code?: string }) =>
      reject(
        new StartupError(
          err.code === 'EADDRINUSE'
            ? `port ${url.port} is already in use`
            : `cannot listen on ${url.port}: ${err.message}`,
        ),
      ),
    );
    server.listen(Number(url.port), r.bind ?? url.hostname.replace(/^\[|\]$/g, ''), resolve);
  });
  try {
    return await fn();
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
