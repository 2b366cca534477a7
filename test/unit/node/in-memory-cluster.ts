/**
 * Several RaftKvNodes in one process on MemoryStores, joined by an in-memory transport that
 * delivers on a later turn of the event loop and can cut nodes off. Exercises the node layer
 * (drive loop, group commit, waiters, routing) without sockets or disks.
 */

import { pino } from 'pino';
import { type ClusterConfig, parseClusterConfig } from '../../../src/config.js';
import { RaftKvNode } from '../../../src/node/node.js';
import { MemoryStore } from '../../../src/storage/memory-store.js';
import type { Transport } from '../../../src/transport/transport.js';
import type { GroupMessage } from '../../../src/transport/wire.js';

export class InMemoryCluster {
  readonly config: ClusterConfig;
  readonly nodes = new Map<string, RaftKvNode>();
  readonly stores = new Map<string, MemoryStore>();
  /** Nodes whose messages (both ways) are dropped. */
  readonly isolated = new Set<string>();
  fatal: Error | null = null;

  constructor(ids: readonly string[], shards: number, tuning: Record<string, number> = {}) {
    this.config = parseClusterConfig({
      nodes: ids.map((id, i) => ({
        id,
        api: `http://127.0.0.1:${17001 + i}`,
        peer: `http://127.0.0.1:${17101 + i}`,
      })),
      shards,
      replicas: ids.length,
      tickMs: 10,
      requestTimeoutMs: 1_000,
      ...tuning,
    });
  }

  /** Starts a node on its store; a node started before restarts from what its store kept durable. */
  async start(id: string): Promise<RaftKvNode> {
    const store = this.stores.get(id)?.crash() ?? new MemoryStore();
    this.stores.set(id, store);
    const transport: Transport = {
      send: (msgs: readonly GroupMessage[]) => {
        for (const gm of msgs) {
          const to = gm.msg.to;
          if (this.isolated.has(id) || this.isolated.has(to)) continue;
          setImmediate(() => this.nodes.get(to)?.receive(id, [gm]));
        }
      },
      close: async () => {},
    };
    const node = await RaftKvNode.start({
      config: this.config,
      id,
      store,
      transport: () => transport,
      log: pino({ level: 'silent' }),
      onFatal: (err) => {
        this.fatal = err;
      },
    });
    this.nodes.set(id, node);
    return node;
  }

  async startAll(): Promise<void> {
    for (const n of this.config.nodes) await this.start(n.id);
  }

  /** The leader of `shard` that every running node agrees on, once there is one. */
  async leaderOf(shard: number, timeoutMs = 5_000): Promise<RaftKvNode> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const leaders = [...this.nodes.values()].filter(
        (n) =>
          !this.isolated.has(n.id) && n.status().groups.find((g) => g.shard === shard)?.role === 'leader',
      );
      if (leaders.length === 1 && leaders[0]!.ready()) return leaders[0]!;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no single leader for shard ${shard} within ${timeoutMs} ms`);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.shutdown()));
    this.nodes.clear();
  }
}
