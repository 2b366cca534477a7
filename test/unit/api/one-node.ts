/**
 * A one-node cluster on a MemoryStore with its client API app (not listening), for API tests
 * through inject() or a real socket: the node leads every shard once `ready()`. A listening one
 * names its real URL in the cluster file, so that a client learns where to send requests.
 */

import { createServer } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { type ApiDeps, buildApi } from '../../../src/api/build-api.js';
import { parseClusterConfig } from '../../../src/config/cluster-file.js';
import { RaftKVNode } from '../../../src/node/index.js';
import { MemoryStore } from '../../../src/storage/memory-store.js';

export interface OneNode {
  readonly node: RaftKVNode;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

/** Starts the node with `tuning` in its cluster file and waits until it is ready. */
export async function startOneNode(
  tuning: Record<string, number> = {},
  api: Partial<Omit<ApiDeps, 'node' | 'log'>> = {},
  apiUrl = 'http://127.0.0.1:1',
): Promise<OneNode> {
  const config = parseClusterConfig({
    nodes: [{ id: 'n1', api: apiUrl, peer: 'http://127.0.0.1:2' }],
    shards: 1,
    replicas: 1,
    tickMs: 5,
    ...tuning,
  });
  const log = pino({ level: 'silent' });
  const node = await RaftKVNode.start({
    config,
    id: 'n1',
    store: new MemoryStore(),
    transport: () => ({ send() {}, async close() {} }),
    log,
    onFatal: (err) => {
      throw err;
    },
  });
  const app = buildApi({ node, log, ...api });
  const deadline = Date.now() + 5_000;
  while (!node.ready() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  if (!node.ready()) throw new Error('the one-node cluster did not become ready within 5 s');
  return {
    node,
    app,
    async close() {
      await app.close();
      await node.shutdown();
    },
  };
}

/** As startOneNode, with the app listening on a free loopback port that the cluster file names. */
export async function startListeningOneNode(
  tuning: Record<string, number> = {},
): Promise<OneNode & { readonly url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const one = await startOneNode(tuning, {}, url);
  await one.app.listen({ port, host: '127.0.0.1' });
  return { ...one, url };
}

/** A loopback port that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** The value of one sample line of the Prometheus text, e.g. `name{label="x"}`; NaN if absent. */
export function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}
