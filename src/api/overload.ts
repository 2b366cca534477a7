/**
 * Load shedding on the client port when the event loop lags (@fastify/under-pressure): while the
 * mean delay of the loop over the last second is above the cluster's `eventLoopDelayMaxMs`, a new
 * request is refused with 503 `unavailable` and `Retry-After` before any work is done, so the
 * loop goes to Raft (heartbeats, appends, applies) and to the requests already taken. /healthz,
 * /readyz and /metrics are always answered: liveness must not fail because the node is busy,
 * readiness is defined by the shard groups (README's API), and the metrics show the overload.
 */

import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Gauge, type Registry } from 'prom-client';
import { type RaftKVNode, unavailable } from '../node/index.js';

/** Routes answered whatever the load (see the module comment). */
export const pressureExemptRoutes: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

export interface OverloadGuardOptions {
  readonly node: RaftKVNode;
  /** Where the loop-delay gauge goes (the API's /metrics registry). */
  readonly registry: Registry;
  /** How often the loop delay is measured (under-pressure's sampleInterval). */
  readonly sampleEveryMs?: number;
}

/** Registers the guard on `app`; call before the routes are declared. */
export function registerOverloadGuard(app: FastifyInstance, o: OverloadGuardOptions): void {
  const delayMaxMs = o.node.config.eventLoopDelayMaxMs;
  void app.register(underPressure, {
    // 0 turns the check off; the delay is still measured for the gauge.
    maxEventLoopDelay: delayMaxMs,
    sampleInterval: o.sampleEveryMs ?? 1_000,
    pressureHandler: async (req: FastifyRequest, _reply, _type, value) => {
      if (pressureExemptRoutes.has(req.routeOptions.url ?? '')) return;
      o.node.metrics.overloadRefused('event_loop_delay');
      throw unavailable(
        `node ${o.node.id} is overloaded: its event loop lags ${Math.round(value ?? 0)} ms (limit ${delayMaxMs} ms); nothing was done, retry later`,
      );
    },
  });
  new Gauge({
    name: 'raftkv_event_loop_delay_seconds',
    help: 'Mean event-loop delay over the last sample (the client port sheds load above eventLoopDelayMaxMs)',
    registers: [o.registry],
    collect() {
      if (app.hasDecorator('memoryUsage')) this.set(app.memoryUsage().eventLoopDelay / 1000);
    },
  });
}
