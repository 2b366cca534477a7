/**
 * The one place where errors become HTTP: every KVError keeps its status and code; fastify's own
 * errors (oversized or unparsable bodies) are mapped to the README's API catalogue; anything else is a
 * bug, logged, and answered 500 without details.
 */

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { badRequest, KVError, NotLeaderError, tooLarge, unavailable } from '../node/index.js';
import { type ErrorBody, errorStatuses } from '../protocol/index.js';

/** Answers `err` with the catalogue's body and the status the catalogue gives its code (README's API). */
export function sendError(reply: FastifyReply, err: KVError): FastifyReply {
  return send(reply, { error: { code: err.code, message: err.message } });
}

function send(reply: FastifyReply, body: ErrorBody): FastifyReply {
  const status = errorStatuses[body.error.code];
  if (status === errorStatuses.unavailable) reply.header('retry-after', '1');
  if (status === errorStatuses.unauthorized) reply.header('www-authenticate', 'Bearer realm="raftkv"');
  return reply.code(status).type('application/json').send(body);
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
    return sendError(reply, badRequest(fe.message));
  }
  req.log.error({ err }, 'unexpected error');
  return send(reply, { error: { code: 'internal', message: 'internal error' } });
}
