/**
 * `raftkv serve`: runs one node in this process. Loads and checks the cluster file and the data
 * directory, opens the store, starts the node, its peer port and its client port, and handles
 * SIGTERM/SIGINT (hand leadership over, flush, exit 0). A storage failure exits non-zero.
 */

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildApi } from './api/build-api.js';
import { type ClusterConfig, loadClusterConfig, nodeSpec } from './config.js';
import { createLogger } from './log.js';
import { RaftKvNode, StartupError } from './node/node.js';
import { LevelStore } from './storage/level-store.js';
import { HttpTransport } from './transport/http-transport.js';
import { buildPeerServer } from './transport/peer-server.js';

export interface ServeOptions {
  readonly configPath: string;
  readonly id: string;
  readonly dataDir?: string | undefined;
  readonly bind?: string | undefined;
}

/** How long a stopping leader waits for leadership to move before it leaves anyway. */
const transferOnStopMs = 3_000;
/** How long requests in flight get to finish once the node stops taking new connections. */
const closeGraceMs = 1_000;

export async function serve(o: ServeOptions): Promise<void> {
  const config: ClusterConfig = loadClusterConfig(o.configPath);
  const spec = nodeSpec(config, o.id);
  const log = createLogger(o.id);
  const dataDir = resolve(o.dataDir ?? join('data', o.id));
  mkdirSync(dataDir, { recursive: true });
  const store = await openStore(join(dataDir, 'raft'));

  let node: RaftKvNode | null = null;
  const fatal = (err: Error) => {
    log.fatal({ err }, 'storage failed; stopping without acknowledging more writes');
    process.exit(2);
  };
  node = await RaftKvNode.start({
    config,
    id: o.id,
    store,
    log,
    onFatal: fatal,
    transport: (peers) =>
      new HttpTransport({ clusterId: config.clusterId, self: o.id, peers, requestTimeoutMs: 2_000, log }),
  });
  const started = node;
  const peerApp = buildPeerServer({
    clusterId: config.clusterId,
    self: o.id,
    peers: new Set(config.nodes.map((n) => n.id).filter((id) => id !== o.id)),
    sink: (from, msgs) => started.receive(from, msgs),
    log,
    bodyBytesMax: 64 * 1024 * 1024,
    messagesMax: 100_000,
    snapshotBytesMax: 4 * 1024 * 1024 * 1024,
  });
  const apiApp = buildApi({ node: started, log });
  const peerUrl = new URL(spec.peer);
  const apiUrl = new URL(spec.api);
  await listen(peerApp, peerUrl, o.bind);
  await listen(apiApp, apiUrl, o.bind);
  log.info({ api: spec.api, peer: spec.peer, dataDir }, 'serving');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: handing leadership over');
    // Keep serving (and forwarding) while leadership moves, so the shards stay available.
    await started.handOver(transferOnStopMs);
    const apiClosed = apiApp.close();
    // Keep-alive connections that stay open would hold close() for their whole timeout.
    const force = setTimeout(() => apiApp.server.closeAllConnections(), closeGraceMs);
    await started.shutdown();
    await apiClosed;
    clearTimeout(force);
    await peerApp.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

async function openStore(dir: string): Promise<LevelStore> {
  try {
    return await LevelStore.open(dir);
  } catch (err) {
    const e = err as Error & { code?: string; cause?: { code?: string } };
    if (e.code === 'LEVEL_DATABASE_NOT_OPEN' && /lock/i.test(`${e.cause ?? ''}${e.message}`)) {
      throw new StartupError(`data directory ${dir} is in use by another process`);
    }
    throw new StartupError(
      `cannot open data directory ${dir}: ${e.message}${e.cause ? ` (${String(e.cause)})` : ''}`,
    );
  }
}

async function listen(
  app: { listen(o: { port: number; host: string }): Promise<string> },
  url: URL,
  bind?: string,
) {
  const host = bind ?? url.hostname.replace(/^\[|\]$/g, '');
  try {
    await app.listen({ port: Number(url.port), host });
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new StartupError(
      code === 'EADDRINUSE'
        ? `port ${url.port} on ${host} is already in use`
        : `cannot listen on ${host}:${url.port}: ${(err as Error).message}`,
    );
  }
}
