/**
 * The client API app (README's API) for one node, built apart from listen() so tests can inject().
 * Bodies are raw bytes of any content type, bounded by the cluster's value limit.
 */

import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { RaftKVNode } from '../node/index.js';
import { badRequest, KVError } from '../node/index.js';
import { epochHeader, errorStatuses } from '../protocol/index.js';
import { type AuthOptions, authHook } from './auth.js';
import { ClusterAuth } from './cluster-auth.js';
import { errorHandler, sendError } from './errors.js';
import type { OutboundTls } from './forward.js';
import { type ApiHttpLimits, apiHttpLimits, fastifyTimeouts, nodeServerOptions } from './http-limits.js';
import { LimitedForwarder } from './limited-forwarder.js';
import { ApiMetrics } from './metrics.js';
import { registerOverloadGuard } from './overload.js';
import type { Rebalancer } from './rebalancer.js';
import { RefusalLog } from './refusals.js';
import { adminRoutes } from './routes/admin.js';
import { backupRoutes } from './routes/backup.js';
import { kvRoutes } from './routes/kv.js';
import { leaseRoutes } from './routes/leases.js';
import { listRoutes } from './routes/list.js';
import { memberRoutes } from './routes/members.js';
import { nodeRoutes } from './routes/nodes.js';
import { uiRoutes } from './routes/ui.js';
import { watchRoutes } from './routes/watch.js';

export interface ApiDeps {
  readonly node: RaftKVNode;
  readonly log: Logger;
  /** API tokens; without them every route is open. */
  readonly auth?: AuthOptions | undefined;
  /** Serve https with this certificate and key. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  /** How to reach other nodes' client ports over https. */
  readonly outboundTls?: OutboundTls | undefined;
  /** Header size and slow-client limits; the defaults of http-limits.ts where not given. */
  readonly httpLimits?: Partial<ApiHttpLimits> | undefined;
  /** The cluster secret: signs and checks the requests nodes make of each other's API. */
  readonly clusterAuth?: ClusterAuth | undefined;
  /** The rebalancer running on this node (serve starts one); the node routes report what it sees. */
  readonly rebalancer?: Rebalancer | undefined;
}

export function buildApi({
  node,
  log,
  auth,
  tls,
  outboundTls,
  httpLimits,
  clusterAuth = new ClusterAuth(null),
  rebalancer,
}: ApiDeps): FastifyInstance {
  const limits = { ...apiHttpLimits(node.config.requestTimeoutMs), ...httpLimits };
  const app = Fastify({
    ...(tls === undefined ? {} : { https: { ...nodeServerOptions(limits), cert: tls.cert, key: tls.key } }),
    http: nodeServerOptions(limits),
    ...fastifyTimeouts(limits),
    loggerInstance: log.child({ port: 'api' }) as FastifyBaseLogger,
    bodyLimit: node.config.valueBytesMax,
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: 4096 },
    // While closing, requests on open connections are still served (the node answers them, in
    // the API's error format (README)), rather than getting fastify's own 503.
    return503OnClosing: false,
    // The router's own refusals (a path that is not valid %-encoded UTF-8) in the API's error format (README) too.
    frameworkErrors: (err, _req, reply) => sendError(reply, badRequest(err.message)),
  });
  // Client I/O keeps the node's ticks going while a burst of it holds the event loop (LoopClock).
  const keepTime = () => node.keepTime();
  app.server.on('connection', keepTime);
  app.server.on('request', keepTime);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  const metrics = new ApiMetrics(node);
  const forwarder = new LimitedForwarder(
    node.inFlight,
    node.config.requestTimeoutMs,
    () => metrics.forwarded.inc(),
    outboundTls,
  );
  registerOverloadGuard(app, { node, registry: metrics.registry });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    metrics.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.latency.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });
  app.addHook('onClose', async () => forwarder.close());
  // Every answer says which membership epoch it comes from (a relayed one, the newer of the two).
  app.addHook('onSend', async (_req, reply) => {
    const relayed = Number(reply.getHeader(epochHeader) ?? 0);
    reply.header(epochHeader, String(Math.max(node.epoch, Number.isSafeInteger(relayed) ? relayed : 0)));
  });
  const refusals = new RefusalLog(log.child({ port: 'api' }));
  app.setErrorHandler((err: Error, req, reply) => {
    const sent = errorHandler(err, req, reply);
    refusals.note(req, reply.statusCode, (err as { code?: string }).code ?? err.name, err.message);
    return sent;
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(
      reply,
      new KVError('not_found', errorStatuses.not_found, `no route ${req.method} ${req.url.split('?')[0]}`),
    ),
  );
  if (auth !== undefined) authHook(app, auth, clusterAuth);
  kvRoutes(app, { node, forwarder, onRemote: () => metrics.forwarded.inc() });
  leaseRoutes(app, { node, onRemote: () => metrics.forwarded.inc() });
  listRoutes(app, { node, forwarder });
  memberRoutes(app, { node, forwarder, auth: clusterAuth });
  nodeRoutes(app, { node, forwarder, rebalancer: rebalancer ?? null });
  adminRoutes(app, { node, metrics });
  backupRoutes(app, { node, clusterAuth, outboundTls, log });
  watchRoutes(app, { node, clusterAuth, outboundTls, log });
  uiRoutes(app, { node, outboundTls, rebalancer: rebalancer ?? null });
  return app;
}
