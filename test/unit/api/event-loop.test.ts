/**
 * Load shedding when the event loop lags (@fastify/under-pressure, one node, inject): while the
 * loop is kept busy past `eventLoopDelayMaxMs`, key requests get 503 `unavailable` with
 * Retry-After in the catalogue format, /healthz, /readyz and /metrics still answer, and requests
 * are served again once the lag is gone.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provenanceNow, provenanceOf } from './key-provenance.js';
import { metricValue, type OneNode, startOneNode } from './one-node.js';

/** Keeps the event loop busy for `blockMs` in every turn until the returned function is called. */
function lagEventLoop(blockMs: number): () => void {
  const timer = setInterval(() => {
    const end = performance.now() + blockMs;
    while (performance.now() < end) {
      // Busy on purpose: this is the lag.
    }
  }, 1);
  return () => clearInterval(timer);
}

/** Retries `attempt` until it returns true, failing after `timeoutMs`. */
async function until(what: string, timeoutMs: number, attempt: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await attempt())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('event-loop lag protection on the client port', () => {
  let one: OneNode;

  beforeAll(async () => {
    one = await startOneNode({ eventLoopDelayMaxMs: 100 });
  });

  afterAll(async () => {
    await one?.close();
  });

  it('refuses key requests with 503 while the loop lags, and never /healthz, /readyz or /metrics', async () => {
    const { app, node } = one;
    expect((await app.inject({ method: 'PUT', url: '/v1/kv/calm', payload: 'v' })).statusCode).toBe(200);
    const stopLag = lagEventLoop(200);
    try {
      let refused = await app.inject({ method: 'GET', url: '/v1/kv/calm' });
      await until('a key request refused under lag', 10_000, async () => {
        refused = await app.inject({ method: 'GET', url: '/v1/kv/calm' });
        return refused.statusCode === 503;
      });
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.json()).toEqual({
        error: {
          code: 'unavailable',
          message: expect.stringMatching(
            /^node n1 is overloaded: its event loop lags \d+ ms \(limit 100 ms\); nothing was done, retry later$/,
          ),
        },
      });
      // Refused before routing, it still says where it came from.
      expect(provenanceOf(refused)).toEqual(provenanceNow(node, 0));
      expect(app.isUnderPressure()).toBe(true);
      const put = await app.inject({ method: 'PUT', url: '/v1/kv/refused', payload: 'v' });
      expect(put.statusCode).toBe(503);
      expect(provenanceOf(put)).toEqual(provenanceNow(node, 0));
      const [health, ready, metrics] = await Promise.all([
        app.inject({ method: 'GET', url: '/healthz' }),
        app.inject({ method: 'GET', url: '/readyz' }),
        app.inject({ method: 'GET', url: '/metrics' }),
      ]);
      expect([health.statusCode, ready.statusCode, metrics.statusCode]).toEqual([200, 200, 200]);
      expect(app.isUnderPressure()).toBe(true);
      expect(
        metricValue(metrics.body, 'raftkv_overload_refused_total{reason="event_loop_delay"}'),
      ).toBeGreaterThanOrEqual(2);
      expect(metricValue(metrics.body, 'raftkv_event_loop_delay_seconds')).toBeGreaterThan(0.1);
    } finally {
      stopLag();
    }
    await until('key requests served again after the lag', 5_000, async () => {
      return (await app.inject({ method: 'PUT', url: '/v1/kv/after', payload: 'v' })).statusCode === 200;
    });
    // The write refused under lag was not done.
    expect((await app.inject({ method: 'GET', url: '/v1/kv/refused' })).statusCode).toBe(404);
  });
});
