/**
 * the API's 504 (README): a write that was proposed but whose outcome is unknown. With `requestTimeoutMs`
 * 300, a leader whose followers were both just killed still accepts the proposal (check-quorum
 * notices only after an election timeout) and must answer 504 `timeout` when the wait ends; once
 * it has stepped down, the same write is refused up front with 503.
 */

import { describe, expect, it } from 'vitest';
import { expectError, putOk } from './api-assertions.js';
import { useCluster } from './harness.js';

describe('504 when a write was proposed but could not commit in time', () => {
  const cluster = useCluster({ name: 'api-timeout', tuning: { requestTimeoutMs: 300 } });

  it('the leader answers 504 timeout after requestTimeoutMs once both followers are gone, then 503', async () => {
    const cl = cluster();
    const shard = 0;
    const leader = await cl.waitLeader(shard);
    const key = cl.keysOfShard(shard, 1, 'api/timeout/')[0]!;
    await putOk(cl, key, 'committed', { node: leader });
    const followers = cl.ids.filter((id) => id !== leader);
    await Promise.all(followers.map((id) => cl.kill(id)));
    // The leader still leads until check-quorum (one election timeout, 400 ms) notices: write now.
    const r = await cl.put(key, 'may or may not take effect', { node: leader });
    expect(expectError(r, 504, 'timeout')).toBe(
      'proposed, but not applied in time; the write may or may not take effect',
    );
    expect(r.elapsedMs).toBeGreaterThanOrEqual(300);
    expect(r.elapsedMs).toBeLessThan(2_000);

    await cl.waitFor(async () => (await cl.groupStatus(leader, shard)).leader === null, {
      timeoutMs: 5_000,
      what: `${leader} to step down from shard ${shard}`,
    });
    const refused = await cl.put(key, 'refused', { node: leader });
    expectError(refused, 503, 'unavailable');
    expect(refused.elapsedMs).toBeLessThan(300);

    await cl.start(...followers);
    await cl.waitReady();
    const got = await cl.get(key);
    expect(got.status).toBe(200);
    expect(['committed', 'may or may not take effect']).toContain(got.text());
  });
});
