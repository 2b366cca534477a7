/**
 * `raftkv serve`: runs one node in this process. Loads and checks the cluster file and the data
 * directory, opens the store, starts the node, its peer port and its client port, and handles
 * SIGTERM/SIGINT (hand leadership over, flush, exit 0). A storage failure exits non-zero.
 */

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildApi } from '../api/build-api.js';
import { ClusterAuth } from '../api/cluster-auth.js';
import { Rebalancer } from '../api/rebalancer.js';
import { type ClusterConfig, ConfigError, loadClusterConfig, nodeSpec } from '../config/cluster-file.js';
import { checkIdentity, claimOwnIdentity, PeerIdentities } from '../node/identity.js';
import { LoopClock } from '../node/loop-clock.js';
import { RaftKVNode, StartupError } from '../node/node.js';
import { LevelStore } from '../storage/level-store.js';
import type { StoreIdentity } from '../storage/raft-store.js';
import { StoreCorruptError, StoreFormatError } from '../storage/store-errors.js';
import { describeStoreFailure, systemErrorOf } from '../storage/store-failure.js';
import { sendClaim } from '../transport/claim.js';
import { HttpTransport } from '../transport/http-transport.js';
import { PeerPresence } from '../transport/peer-presence.js';
import { buildPeerServer } from '../transport/peer-server.js';
import { type Joined, joinCluster, savedJoin } from './join.js';
import { createLogger } from './log.js';
import { loadSecurity, secretEnv } from './security.js';

export interface ServeOptions {
  /** The cluster file; with `join`, optional (only its `security` is used). */
  readonly configPath?: string | undefined;
  readonly id: string;
  readonly dataDir?: string | undefined;
  readonly bind?: string | undefined;
  /** `--join`: API URLs of members to ask; then `api` and `peer` are this node's URLs. */
  readonly join?: readonly string[] | undefined;
  readonly api?: string | undefined;
  readonly peer?: string | undefined;
}

/** How long a stopping leader waits for leadership to move before it leaves anyway. */
export const transferOnStopMs = 3_000;
/** How long requests in flight get to finish once the node stops taking new connections. */
export const closeGraceMs = 1_000;
/** How long a node whose disk failed gives its last answers to leave before the process exits 2. */
export const fatalExitDelayMs = 100;
/** How long one peer request (a batch of messages or a snapshot chunk) may take before it is dropped. */
export const peerRequestTimeoutMs = 2_000;
/** How often a node with a new data directory asks the peers that did not confirm it yet. */
export const claimRetryMs = 500;
/** The largest body the peer port accepts (a batch of messages or one snapshot chunk). */
export const peerBodyBytesMax = 64 * 1024 * 1024;
/** The most messages in one peer request. */
export const peerMessagesMax = 100_000;
/** The largest snapshot a follower accepts from a leader. */
export const peerSnapshotBytesMax = 4 * 1024 * 1024 * 1024;

export async function serve(o: ServeOptions): Promise<void> {
  const log = createLogger(o.id);
  const dataDir = resolve(o.dataDir ?? join('data', o.id));
  mkdirSync(dataDir, { recursive: true });
  // A node that joined before restarts from its data directory alone (or with --join again).
  const file = o.configPath === undefined ? null : loadClusterConfig(o.configPath);
  const before = o.join === undefined && file !== null ? null : savedJoin(dataDir, file?.security);
  const joined = before ?? (o.join === undefined ? null : await joinFirst(o, dataDir));
  if (joined === null && file === null)
    throw new ConfigError('serve needs --config (a cluster file) or --join (URLs of a running cluster)');
  if (joined !== null && before === null)
    log.info({ nodes: joined.config.nodes.map((n) => n.id) }, 'joined the cluster');
  const config: ClusterConfig = joined?.config ?? file!;
  const spec = joined === null ? nodeSpec(config, o.id) : { id: o.id, api: joined.api, peer: joined.peer };
  const security = loadSecurity(config, o.configPath ?? join(dataDir, 'cluster.json'), o.id);
  const store = await openStore(join(dataDir, 'raft'));

  // The node has stopped acknowledging and answered its waiting clients (504/503); one line says
  // why, and the process exits non-zero once those answers had a moment to leave. A restart
  // recovers from what was durable.
  const fatal = (err: Error) => {
    const storage = describeStoreFailure(err);
    const what = storage === null ? `drive loop failed (${err.message})` : `storage failed (${storage})`;
    log.fatal({ err }, `${what} on ${dataDir}; stopping: no more writes are acknowledged`);
    process.exitCode = 2;
    setTimeout(() => process.exit(2), fatalExitDelayMs);
  };
  // The peer port listens first: other nodes' claims are answered while this one claims its own.
  // Until this node's groups are loaded it cannot tell who their members are, so it asks the
  // claimant to come back, except while it is itself new and claiming (it hosts nothing then).
  await checkIdentity(store, config, o.id, joined?.incarnation);
  const identities = await PeerIdentities.load(store);
  let node: RaftKVNode | null = null;
  // Ticks that a burst of client I/O cannot hold back; the transport's turns follow it too.
  const clock = new LoopClock();
  const soon = (fn: () => void) => clock.soon(fn);
  // The node's transport, once it made it: answers to calls ride on its streams both ways.
  let transport: HttpTransport | null = null;
  let isMember: ((peer: string) => boolean) | null = null;
  // A peer whose every connection was refused or reset is gone: its followers campaign at once.
  const presence = new PeerPresence(
    (peer) => {
      log.info({ peer }, 'peer gone: its connections were refused or reset');
      node?.peerGone(peer);
    },
    (peer) => node?.peerStream(peer),
  );
  const peerApp = buildPeerServer({
    clusterId: config.clusterId,
    self: o.id,
    secret: security.secret,
    tls: security.peerTls,
    // The cluster file's nodes (or the join answer's) until the node table says who is a member.
    peers: {
      // (a file node removed from the table may still claim a new data directory before it is
      // added again; peer messages from non-members are ignored by every group anyway).
      has: (id: string) =>
        id !== o.id &&
        (config.nodes.some((n) => n.id === id) || node?.nodes().some((n) => n.id === id) === true),
    },
    sink: (from, msgs) => node?.receive(from, msgs),
    presence,
    soon,
    answerOwnWay: (to, a) => transport?.answer(to, a) ?? false,
    answers: (from, answers) => transport?.takeAnswers(from, answers),
    notices: (from, notices) => {
      for (const n of notices) node?.peerNotice(from, n);
    },
    calls: async (_from, payload) => {
      if (node === null) throw new Error('starting; not serving yet');
      return node.answerCall(payload);
    },
    claims: async (from, incarnation) =>
      isMember === null ? null : identities.answer(from, incarnation, isMember),
    log,
    bodyBytesMax: peerBodyBytesMax,
    messagesMax: peerMessagesMax,
    snapshotBytesMax: peerSnapshotBytesMax,
  });
  await listen(peerApp, new URL(spec.peer), o.bind);
  const claim = async (identity: StoreIdentity): Promise<'bootstrap' | 'member'> => {
    isMember = () => false;
    try {
      const start = await claimOwnIdentity({
        self: o.id,
        incarnation: identity.incarnation,
        peers: config.nodes.map((n) => n.id).filter((id) => id !== o.id),
        ask: (peer) =>
          sendClaim(
            config.nodes.find((n) => n.id === peer)!.peer,
            {
              clusterId: config.clusterId,
              self: o.id,
              incarnation: identity.incarnation,
              secret: security.secret,
              timeoutMs: peerRequestTimeoutMs,
              tls: security.peerTls,
            },
            (status, body) => log.warn({ peer, status, body }, 'peer refused our identity claim'),
          ),
        pause: () => new Promise((resolve) => setTimeout(resolve, claimRetryMs)),
        waiting: (peers) =>
          log.warn({ peers }, 'new data directory: waiting for every other node to confirm this node'),
      });
      log.info({ start }, 'identity confirmed by every other node');
      return start;
    } finally {
      isMember = null;
    }
  };
  node = await RaftKVNode.start({
    config,
    id: o.id,
    store,
    log,
    onFatal: fatal,
    clock,
    ...(joined === null ? { claim } : { joined: true }),
    transport: (peers) =>
      (transport = new HttpTransport({
        clusterId: config.clusterId,
        self: o.id,
        peers,
        requestTimeoutMs: peerRequestTimeoutMs,
        secret: security.secret,
        tls: security.peerTls,
        log,
        frameBytesMax: peerBodyBytesMax,
        presence,
        soon,
      })),
  });
  const started = node;
  isMember = (peer) => started.hostsMember(peer);
  const clusterAuth = new ClusterAuth(security.secret);
  const rebalancer = new Rebalancer({ node, auth: clusterAuth, log, outboundTls: { ca: security.ca } });
  const apiApp = buildApi({
    node,
    log,
    auth: security.tokens === null ? undefined : { tokens: security.tokens, openRoutes: security.openRoutes },
    tls: security.apiTls,
    outboundTls: { ca: security.ca },
    clusterAuth,
    rebalancer,
  });
  const apiUrl = new URL(spec.api);
  await listen(apiApp, apiUrl, o.bind);
  rebalancer.start();
  log.info(
    {
      api: spec.api,
      peer: spec.peer,
      dataDir,
      tokens: security.tokens !== null,
      mutualTls: security.peerTls?.ca !== undefined,
    },
    'serving',
  );
  if (security.secretCreated !== null)
    log.info({ file: security.secretCreated }, 'created the cluster secret');
  if (security.tokens === null) log.warn('no tokens file: the client API is open to anyone who can reach it');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: handing leadership over');
    // Keep serving (and forwarding) while leadership moves, so the shards stay available.
    await rebalancer.stop();
    const handed = await started.handOver(transferOnStopMs);
    log.info(handed, 'stopping: leadership handed over where a member stays');
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

/** Asks the cluster to add this node (or finds that it did before); needs the cluster secret. */
async function joinFirst(o: ServeOptions, dataDir: string): Promise<Joined> {
  if (o.api === undefined || o.peer === undefined)
    throw new ConfigError('--join needs --api and --peer: the URLs other nodes reach this one at');
  const file = o.configPath === undefined ? null : loadClusterConfig(o.configPath);
  const fileSecurity =
    file === null
      ? null
      : loadSecurity({ ...file, nodes: [{ id: o.id, api: o.api, peer: o.peer }] }, o.configPath!, o.id);
  const secret = process.env[secretEnv]?.trim() || fileSecurity?.secret;
  if (secret === undefined)
    throw new ConfigError(
      `--join needs the cluster secret: set ${secretEnv} (or --config with security.secretFile)`,
    );
  return joinCluster(
    {
      urls: o.join!,
      id: o.id,
      api: o.api,
      peer: o.peer,
      secret,
      security: file?.security,
      bind: o.bind,
      tls: fileSecurity?.apiTls,
    },
    dataDir,
  );
}

/**
 * Opens the store and verifies all of it, so a damaged directory is refused here, with one
 * sentence, before the node acts on any of it; nothing is repaired. The node's groups then load
 * what verifying read.
 */
async function openStore(dir: string): Promise<LevelStore> {
  let store: LevelStore | null = null;
  try {
    store = await LevelStore.open(dir);
    await store.verify();
    return store;
  } catch (err) {
    await store?.close().catch(() => undefined);
    if (err instanceof StoreCorruptError) {
      throw new StartupError(`data directory ${dir} is corrupt: ${err.detail}`);
    }
    if (err instanceof StoreFormatError) {
      throw new StartupError(
        `data directory ${dir} has format ${err.found}, newer than this build's format ${err.expected}`,
      );
    }
    const e = err as Error & { code?: string; cause?: { code?: string } };
    if (e.code === 'LEVEL_DATABASE_NOT_OPEN' && /lock/i.test(`${e.cause ?? ''}${e.message}`)) {
      throw new StartupError(`data directory ${dir} is in use by another process`);
    }
    const system = systemErrorOf(e);
    throw new StartupError(
      `cannot open data directory ${dir}${system === null ? '' : ` (${system})`}: ${e.message}${e.cause ? ` (${String(e.cause)})` : ''}`,
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
