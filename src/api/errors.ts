/**
 * The one place where errors become HTTP: every KVError keeps its status and code; fastify's own
 * errors (oversized or unparsable bodies) are mapped to the API.md catalogue; anything else is a
 * bug, logged, and answered 500 without details.
 */

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { KVError, NotLeaderError, tooLarge, unavailable } from '../node/index.js';

export function sendError(reply: FastifyReply, err: KVError): FastifyReply {
  if (err.status === 503) reply.header('retry-after', '1');
  if (err.status === 401) reply.header('www-authenticate', 'Bearer realm="raftkv"');
  return reply
    .code(err.status)
    .type('application/json')
    .send({ error: { code: err.code, message: err.message } });
}

export function errorHandler(
  err: FastifyError | Error,
  req: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (err instanceof KVError) return sendError(reply, err);
  // Leadership moved before anything was proposed and the route did not re-route: nothing was done.
  if (err instanceof NotLeaderError) return sendError(reply, unavailable(`${err.message}; nothing was done`));
  const fe = err as FastifyError;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, tooLarge(req.routeOptions.bodyLimit));
  if (
    fe.validation !== undefined ||
    (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500)
  ) {
    return sendError(reply, new KVError('bad_request', 400, fe.message));
  }
  req.log.error({ err }, 'unexpected error');
  return reply.code(500).send({ error: { code: 'internal', message: 'internal error' } });
}
