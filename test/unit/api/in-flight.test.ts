/**
 * The in-flight cap through the client API (one node, inject): a burst of writes beyond
 * `requestsInFlightMax` gets 503 `unavailable` with Retry-After and the catalogue body, before
 * anything is proposed, saying where it came from; every write answered 200 is there, every
 * refused one is not.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provenanceNow, provenanceOf } from './key-provenance.js';
import { metricValue, type OneNode, startOneNode } from './one-node.js';

describe('the in-flight cap on the client port', () => {
  let one: OneNode;

  beforeAll(async () => {
    one = await startOneNode({ requestsInFlightMax: 4 });
  });

  afterAll(async () => {
    await one?.close();
  });

  it('refuses writes beyond the cap with 503 and Retry-After, and writes none of them', async () => {
    const { app, node } = one;
    const keys = Array.from({ length: 60 }, (_, i) => `burst/${i}`);
    const answers = await Promise.all(
      keys.map((key) => app.inject({ method: 'PUT', url: `/v1/kv/${key}`, payload: `value of ${key}` })),
    );
    const ok = keys.filter((_, i) => answers[i]!.statusCode === 200);
    const refused = answers.filter((a) => a.statusCode === 503);
    expect(ok.length + refused.length).toBe(keys.length);
    expect(ok.length).toBeGreaterThanOrEqual(4);
    expect(refused.length).toBeGreaterThan(0);
    // Each refusal says where it came from: this node's term, and an index it had applied by then.
    const now = provenanceNow(node, 0);
    for (const r of refused) {
      expect(provenanceOf(r)).toEqual({ ...now, index: r.headers['x-raft-index'] });
      expect(Number(r.headers['x-raft-index'])).toBeLessThanOrEqual(Number(now.index));
      expect(r.headers['retry-after']).toBe('1');
      expect(r.json()).toEqual({
        error: {
          code: 'unavailable',
          message: 'node n1 is at its limit of 4 requests in flight; nothing was done, retry later',
        },
      });
    }
    for (const [i, key] of keys.entries()) {
      const got = await app.inject({ method: 'GET', url: `/v1/kv/${key}` });
      if (answers[i]!.statusCode === 200) {
        expect({ key, status: got.statusCode, body: got.body }).toEqual({
          key,
          status: 200,
          body: `value of ${key}`,
        });
      } else {
        expect({ key, status: got.statusCode }).toEqual({ key, status: 404 });
      }
    }
    expect(node.inFlight.count).toBe(0);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metricValue(metrics, 'raftkv_overload_refused_total{reason="in_flight"}')).toBe(refused.length);
    expect(metricValue(metrics, 'raftkv_requests_in_flight')).toBe(0);
  });

  it('answers writes again once the burst is over', async () => {
    const r = await one.app.inject({ method: 'PUT', url: '/v1/kv/after-the-burst', payload: 'calm' });
    expect(r.statusCode).toBe(200);
  });
});
