/**
 * Client authorisation with API tokens (`Authorization: Bearer <token>`), checked before a
 * request's body is read. Liveness and readiness stay open, and so does the dashboard page
 * itself (it carries no data); `/metrics` and the dashboard's data are open only when listed in
 * `openRoutes`. A missing or unknown token is 401 `unauthorized`; a read-only token on a write
 * is 403 `forbidden`. Without a tokens file every route is open.
 */

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KVError } from '../node/index.js';
import { clusterAuthHeader, errorStatuses } from '../protocol/index.js';
import type { ClusterAuth } from './cluster-auth.js';
import type { ApiTokens } from './tokens.js';

export type OpenableRoute = 'metrics' | 'ui';

export interface AuthOptions {
  readonly tokens: ApiTokens;
  readonly openRoutes: readonly OpenableRoute[];
}

/** The cluster's own requests (cluster-auth.ts) pass as read-write. */
function fromCluster(req: FastifyRequest, cluster: ClusterAuth | undefined): boolean {
  return cluster?.valid(req.method, req.url, req.headers[clusterAuthHeader]) === true;
}

const alwaysOpen: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/ui']);
const openable: ReadonlyMap<string, OpenableRoute> = new Map([
  ['/metrics', 'metrics'],
  ['/v1/ui/state', 'ui'],
]);
const readMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Reads that copy the whole store (a backup): a read-write token, like a write. */
const wholeStoreRoutes: ReadonlySet<string> = new Set(['/v1/admin/backup', '/v1/admin/backup/shards/:shard']);

export function authHook(app: FastifyInstance, o: AuthOptions, cluster?: ClusterAuth): void {
  const open = new Set<string>([...alwaysOpen]);
  for (const [route, name] of openable) if (o.openRoutes.includes(name)) open.add(route);

  app.addHook('onRequest', async (req) => {
    const route = req.routeOptions.url;
    if (route !== undefined && open.has(route)) return;
    if (fromCluster(req, cluster)) return;
    const token = bearer(req);
    if (token === null)
      throw new KVError(
        'unauthorized',
        errorStatuses.unauthorized,
        'this cluster requires an API token (Authorization: Bearer …)',
      );
    const holder = o.tokens.holder(token);
    if (holder === null)
      throw new KVError(
        'unauthorized',
        errorStatuses.unauthorized,
        'the API token is not known to this cluster',
      );
    const needsWrite = !readMethods.has(req.method) || (route !== undefined && wholeStoreRoutes.has(route));
    if (needsWrite && holder.access !== 'read-write')
      throw new KVError('forbidden', errorStatuses.forbidden, `token "${holder.name}" is read-only`);
  });
}

function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^Bearer +(\S+) *$/i.exec(h);
  return m === null ? null : m[1]!;
}
