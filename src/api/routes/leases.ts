/**
 * The lease routes (README "Leases and keys that expire"): `POST /v1/leases {"ttlMs"}` grants a
 * lease, `POST /v1/leases/{id}/keepalive` renews it, `DELETE /v1/leases/{id}` revokes it and
 * deletes its keys. `PUT /v1/kv/{key}?lease=ID` (routes/kv.ts) attaches a key to a lease.
 */

import type { FastifyInstance } from 'fastify';
import {
  badRequest,
  type LeaseId,
  leaseIdText,
  leaseTtlProblem,
  parseLeaseId,
  type RaftKVNode,
} from '../../node/index.js';
import { jsonBody } from '../json-body.js';
import { grantLease, keepLeaseAlive, revokeLease } from '../lease-fanout.js';

export interface LeaseRouteDeps {
  readonly node: RaftKVNode;
  readonly onRemote: () => void;
}

function leaseParam(raw: string): LeaseId {
  const lease = parseLeaseId(raw);
  if (lease === null) throw badRequest('a lease id is 1-12 hex digits, as POST /v1/leases gave it');
  return lease;
}

export function leaseRoutes(app: FastifyInstance, deps: LeaseRouteDeps): void {
  app.post('/v1/leases', async (req, reply) => {
    const { ttlMs } = jsonBody(req);
    const problem = leaseTtlProblem(ttlMs);
    if (problem !== null) throw badRequest(problem);
    const lease = await grantLease(deps, ttlMs as number);
    return reply.code(201).send({ lease: leaseIdText(lease), ttlMs });
  });

  app.post<{ Params: { id: string } }>('/v1/leases/:id/keepalive', async (req, reply) => {
    const lease = leaseParam(req.params.id);
    const ttlMs = await keepLeaseAlive(deps, lease);
    return reply.send({ lease: leaseIdText(lease), ttlMs });
  });

  app.delete<{ Params: { id: string } }>('/v1/leases/:id', async (req, reply) => {
    await revokeLease(deps, leaseParam(req.params.id));
    return reply.code(204).send();
  });
}
