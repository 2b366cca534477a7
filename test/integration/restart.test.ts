/**
 * Whole-cluster restart and start-up refusal (README "Running a node"): SIGTERM makes every node
 * exit 0, a restarted cluster serves everything it acknowledged, and a node refuses, with exit
 * code 1 and one sentence on stderr, a data directory of another node or cluster, a malformed
 * cluster file and an id the file does not name.
 */

import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { membershipGroup } from '../../src/membership/index.js';
import { kvPath, runCli, useCluster } from './harness.js';
import { RawConnection } from './raw-http.js';
import { readBack, writeAll } from './workload.js';

/** Exit code 1 and exactly one line on stderr, which is returned. */
function expectRefusal(res: { code: number | null; stderr: string }): string {
  const lines = res.stderr.split('\n');
  expect({ code: res.code, lines: lines.length, last: lines.at(-1) }).toEqual({
    code: 1,
    lines: 2,
    last: '',
  });
  return lines[0]!;
}

/** As expectRefusal, for a line that starts with `prefix` and goes on to say more. */
function expectRefusalStartingWith(res: { code: number | null; stderr: string }, prefix: string): void {
  const line = expectRefusal(res);
  expect(line.slice(0, prefix.length)).toBe(prefix);
  expect(line.length).toBeGreaterThan(prefix.length);
}

describe('restart', () => {
  const cluster = useCluster({ name: 'restart' });

  it('all acknowledged writes survive SIGTERM of every node (exit 0) and a restart', async () => {
    const cl = cluster();
    const run = randomUUID().slice(0, 8);
    const entries = new Map(
      Array.from({ length: 200 }, (_, i) => [`restart/${run}/${i}`, `value ${i} ${randomUUID()}`]),
    );
    const versions = await writeAll(cl, entries);
    expect(versions.size).toBe(200);

    const leaders = await cl.waitBalanced();
    const stopStartedMs = performance.now();
    const codes = await Promise.all(cl.ids.map((id) => cl.term(id)));
    const stopMs = performance.now() - stopStartedMs;
    expect(codes).toEqual([0, 0, 0]);
    for (const id of cl.ids) expect(cl.isRunning(id)).toBe(false);
    // Stopped together, each node heard the others were stopping too and handed nothing over (no
    // wait for a transfer that a stopping peer would refuse): every shard it led is kept.
    const stops = cl.ids.map((id) => {
      const [handOver] = cl.logs.events(id, 'stopping: leadership handed over where a member stays');
      return {
        id,
        handedTo: handOver?.handedTo,
        // The membership group (its leader may be any node) aside: the shards.
        kept: (handOver?.kept as number[] | undefined)?.filter((g) => g !== membershipGroup),
        peersStopping: [...((handOver?.peersStopping as string[] | undefined) ?? [])].sort(),
      };
    });
    expect(stops).toEqual(
      cl.ids.map((id) => ({
        id,
        handedTo: {},
        kept: leaders.flatMap((leader, shard) => (leader === id ? [shard] : [])),
        peersStopping: cl.ids.filter((other) => other !== id),
      })),
    );
    console.log(`[restart] all three nodes SIGTERMed together exited 0 in ${Math.round(stopMs)} ms`);

    await cl.start();
    await cl.waitReady();
    const expected = new Map([...entries].map(([k, value]) => [k, { value, version: versions.get(k)! }]));
    const report = await readBack(cl, expected);
    console.log(
      `[restart] ${report.checked} keys written, all three nodes stopped (exit codes ${codes.join(', ')}) and restarted; ${report.wrong.length} wrong after restart`,
    );
    expect(report.wrong).toEqual([]);
  });

  it("a node refuses another node's or cluster's data dir, a malformed cluster file and an unknown id", async () => {
    const cl = cluster();
    const config = cl.configPath;
    const n1Data = cl.dataDir('n1');
    const serve = (configPath: string, id: string, data = join(cl.dir, 'unused')) =>
      runCli(['serve', '--config', configPath, '--id', id, '--data', data]);
    expect(await cl.term('n1')).toBe(0);

    const file = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
    const write = (name: string, text: string) => {
      const path = join(cl.dir, name);
      writeFileSync(path, text);
      return path;
    };
    const otherCluster = write(
      'other-cluster.json',
      JSON.stringify({ ...file, clusterId: 'another-cluster' }),
    );
    const notJson = write('not-json.json', '{"nodes": [');
    const badShards = write('bad-shards.json', JSON.stringify({ ...file, shards: 0 }));
    const badReplicas = write('bad-replicas.json', JSON.stringify({ ...file, replicas: 4 }));
    const missing = join(cl.dir, 'missing.json');

    // Independent refusals run side by side; the two that open n1's data directory run apart.
    const [otherNode, inUse, unknownId, badJson, shardsZero, replicasFour, noFile] = await Promise.all([
      serve(config, 'n2', n1Data),
      // n2 is running: its data directory is locked.
      serve(config, 'n1', cl.dataDir('n2')),
      serve(config, 'n9'),
      serve(notJson, 'n1'),
      serve(badShards, 'n1'),
      serve(badReplicas, 'n1'),
      serve(missing, 'n1'),
    ]);
    const foreign = await serve(otherCluster, 'n1', n1Data);

    expect(expectRefusal(otherNode)).toBe('raftkv: data directory belongs to node n1, not n2');
    expect(expectRefusal(inUse)).toBe(
      `raftkv: data directory ${join(cl.dataDir('n2'), 'raft')} is in use by another process`,
    );
    expect(expectRefusal(foreign)).toMatch(
      /^raftkv: data directory belongs to cluster [0-9a-f]{16}, not another-cluster of this cluster file$/,
    );
    expect(expectRefusal(unknownId)).toBe(
      'raftkv: node id "n9" is not in the cluster file (it names n1, n2, n3)',
    );
    expectRefusalStartingWith(badJson, `raftkv: cluster file ${notJson} is not valid JSON: `);
    expectRefusalStartingWith(shardsZero, `raftkv: cluster file ${badShards} is invalid at "shards": `);
    expect(expectRefusal(replicasFour)).toBe(
      `raftkv: cluster file ${badReplicas} is invalid at "replicas": is 4 but the file names only 3 node(s)`,
    );
    expectRefusalStartingWith(noFile, `raftkv: cannot read cluster file ${missing}: `);

    // The refusals left n1's data alone: it starts and serves again.
    await cl.start('n1');
    await cl.waitReady();
    const key = `restart/after-refusals/${randomUUID()}`;
    expect((await cl.put(key, 'ok', { node: 'n1' })).status).toBe(200);
    expect((await cl.get(key, { node: 'n1' })).text()).toBe('ok');
  });

  it('SIGTERM with a write in flight on a keep-alive connection: exits 0 promptly, later requests get a catalogue 503', async () => {
    const cl = cluster();
    const leaders = await cl.waitBalanced();
    const node = leaders[0]!;
    const key = cl.keysOfShard(0, 1, 'restart/in-flight/')[0]!;
    const other = cl.ids.find((id) => id !== node)!;

    // A client on a keep-alive connection has sent the head and half the body of a write.
    const conn = await RawConnection.open(cl.spec(node).api);
    conn.write(
      `PUT ${kvPath(key)} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n` +
        'Content-Length: 10\r\n\r\nhello',
    );
    // A request sent later on another connection is answered: the node has read that head.
    expect((await cl.request('GET', '/healthz', { node })).status).toBe(200);

    const stopsBefore = cl.logEvents(node, 'stopping: handing leadership over').length;
    const signalledMs = performance.now();
    const exit = cl.term(node, { waitMs: 60_000 });
    let exitedMs: number | null = null;
    void exit.then(() => (exitedMs = performance.now()));
    try {
      await cl.waitFor(() => cl.logEvents(node, 'stopping: handing leadership over').length > stopsBefore, {
        what: `${node} to begin stopping`,
      });
      // The rest of the body: the write completes, and the client keeps its connection, idle.
      conn.write('world');
      const inFlight = await cl.waitFor(() => conn.takeAnswer(), {
        what: 'the answer to the write in flight',
      });
      // Meanwhile, a write to the shard this node led, through another node.
      const during = await cl.put(key, 'during the stop', { node: other });

      // The node bounds its leadership hand-over at 3 s; 8 s is ample to exit.
      const exitedPromptly = await cl
        .waitFor(() => exitedMs !== null, { timeoutMs: 8_000, what: `${node} to exit after SIGTERM` })
        .then(
          () => true,
          () => false,
        );
      const waitedMs = Math.round(performance.now() - signalledMs);
      // The client reuses its connection, as a pool would: the answer must still be in the API's error format (README).
      let later = null;
      if (!conn.closed) {
        conn.write(`GET ${kvPath(key)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        later = await cl.waitFor(() => conn.takeAnswer(), { what: 'the answer to a later request' });
      }
      const code = await exit;
      console.log(
        `[restart] SIGTERM to ${node} with a write in flight on a keep-alive connection: the write got ` +
          `"${inFlight.statusLine}" ${inFlight.body}; a write to shard 0 through ${other} meanwhile got ${during.status} ${during.text()}; ` +
          (exitedPromptly
            ? `${node} exited ${code} after ${Math.round(exitedMs! - signalledMs)} ms`
            : `${node} was still running ${waitedMs} ms after SIGTERM and exited ${code} ` +
              `${Math.round(exitedMs! - signalledMs - waitedMs)} ms after the client's next request`) +
          (later === null
            ? ''
            : `; that request got "${later.statusLine}" retry-after=${later.headers['retry-after']} ${later.body}`),
      );
      expect(inFlight.status).toBe(200);
      expect.soft({ exitedPromptly, code }).toEqual({ exitedPromptly: true, code: 0 });
      if (later !== null) {
        expect.soft({ status: later.status, retryAfter: later.headers['retry-after'] }).toEqual({
          status: 503,
          retryAfter: '1',
        });
        expect.soft(Object.keys(JSON.parse(later.body) as object)).toEqual(['error']);
      }
    } finally {
      conn.destroy();
      await exit;
    }
  });
});
