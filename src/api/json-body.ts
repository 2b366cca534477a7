/** Admin routes take JSON object bodies, read here from the raw bytes every route receives. */

import type { FastifyRequest } from 'fastify';
import { badRequest } from '../node/index.js';

/** The request's body as a JSON object (an empty body is `{}`); 400 otherwise. */
export function jsonBody(req: FastifyRequest): Record<string, unknown> {
  const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw === '' ? '{}' : raw);
  } catch {
    throw badRequest('the body must be a JSON object');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw badRequest('the body must be a JSON object');
  return parsed as Record<string, unknown>;
}
