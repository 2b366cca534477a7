/**
 * The client API app (API.md) for one node, built apart from listen() so tests can inject().
 * Bodies are raw bytes of any content type, bounded by the cluster's value limit.
 */

import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { RaftKvNode } from '../node/index.js';
import { KvError } from '../node/index.js';
import { errorHandler, sendError } from './errors.js';
import { Forwarder } from './forward.js';
import { ApiMetrics } from './metrics.js';
import { RefusalLog } from './refusals.js';
import { adminRoutes } from './routes/admin.js';
import { kvRoutes } from './routes/kv.js';
import { listRoutes } from './routes/list.js';
import { uiRoutes } from './routes/ui.js';

export interface ApiDeps {
  readonly node: RaftKvNode;
  readonly log: Logger;
}

export function buildApi({ node, log }: ApiDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: log.child({ port: 'api' }) as FastifyBaseLogger,
    bodyLimit: node.config.valueBytesMax,
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: 4096 },
    // While closing, requests on open connections are still served (the node answers them, in
    // API.md's format), rather than getting fastify's own 503.
    return503OnClosing: false,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  const metrics = new ApiMetrics(node);
  const forwarder = new Forwarder(node.config.requestTimeoutMs, () => metrics.forwarded.inc());
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    metrics.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.latency.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });
  app.addHook('onClose', async () => forwarder.close());
  const refusals = new RefusalLog(log.child({ port: 'api' }));
  app.setErrorHandler((err: Error, req, reply) => {
    const sent = errorHandler(err, req, reply);
    refusals.note(req, reply.statusCode, (err as { code?: string }).code ?? err.name, err.message);
    return sent;
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new KvError('not_found', 404, `no route ${req.method} ${req.url.split('?')[0]}`)),
  );
  kvRoutes(app, { node, forwarder });
  listRoutes(app, { node, forwarder });
  adminRoutes(app, { node, metrics });
  uiRoutes(app, { node });
  return app;
}
