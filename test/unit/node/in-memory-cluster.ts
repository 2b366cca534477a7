/**
 * Several RaftKVNodes in one process on MemoryStores, joined by an in-memory transport that
 * delivers on a later turn of the event loop and can cut nodes off. Exercises the node layer
 * (drive loop, group commit, waiters, routing) without sockets or disks. Each store sits behind a
 * FailingStore, so a test can make a node's disk fail.
 */

import { pino } from 'pino';
import { type ClusterConfig, parseClusterConfig } from '../../../src/config/cluster-file.js';
import type { Clock } from '../../../src/node/clock.js';
import { RaftKVNode } from '../../../src/node/node.js';
import { MemoryStore } from '../../../src/storage/memory-store.js';
import type { Transport } from '../../../src/transport/transport.js';
import type { GroupMessage } from '../../../src/transport/wire.js';
import { FailingStore } from '../storage/failing-store.js';

/** An unconditional put of `value` under `key`, without a client session. */
export const putCommand = (key: string, value: string) => ({
  op: 'put' as const,
  key,
  value: Buffer.from(value),
  cond: { ifMatch: null, ifNoneMatch: false },
  session: null,
});

export class InMemoryCluster {
  readonly config: ClusterConfig;
  readonly nodes = new Map<string, RaftKVNode>();
  readonly stores = new Map<string, MemoryStore>();
  /** The store each node runs on: its MemoryStore behind a disk that fails on command. */
  readonly disks = new Map<string, FailingStore>();
  /** Messages each node has sent, per type. */
  readonly sent = new Map<string, Map<string, number>>();
  /** Nodes whose messages (both ways) are dropped. */
  readonly isolated = new Set<string>();
  fatal: Error | null = null;
  /** Every onFatal call: which node, with what, and how many messages it had sent by then. */
  readonly fatals: { readonly id: string; readonly err: Error; readonly sentBefore: number }[] = [];

  /** Each node's clock, when a test runs the cluster in its own time; Node's timers otherwise. */
  clockFor: ((id: string) => Clock) | null = null;

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
  async start(id: string): Promise<RaftKVNode> {
    const store = this.stores.get(id)?.crash() ?? new MemoryStore();
    this.stores.set(id, store);
    const disk = new FailingStore(store);
    this.disks.set(id, disk);
    const sent = new Map<string, number>();
    this.sent.set(id, sent);
    const transport: Transport = {
      send: (msgs: readonly GroupMessage[]) => {
        for (const gm of msgs) {
          sent.set(gm.msg.type, (sent.get(gm.msg.type) ?? 0) + 1);
          const to = gm.msg.to;
          if (this.isolated.has(id) || this.isolated.has(to)) continue;
          setImmediate(() => this.nodes.get(to)?.receive(id, [gm]));
        }
      },
      notify: (notice) => {
        for (const other of this.nodes.keys()) {
          if (other === id || this.isolated.has(id) || this.isolated.has(other)) continue;
          setImmediate(() => this.nodes.get(other)?.peerNotice(id, notice));
        }
      },
      peerUp: (peer) => this.nodes.has(peer) && !this.isolated.has(peer) && !this.isolated.has(id),
      close: async () => {},
    };
    const node = await RaftKVNode.start({
      config: this.config,
      id,
      store: disk,
      transport: () => transport,
      log: pino({ level: 'silent' }),
      ...(this.clockFor === null ? {} : { clock: this.clockFor(id) }),
      onFatal: (err) => {
        this.fatal = err;
        this.fatals.push({ id, err, sentBefore: this.sentCount(id) });
      },
    });
    this.nodes.set(id, node);
    return node;
  }

  async startAll(): Promise<void> {
    for (const n of this.config.nodes) await this.start(n.id);
  }

  /** The leader of `shard` that every running node agrees on, once there is one. */
  async leaderOf(shard: number, timeoutMs = 5_000): Promise<RaftKVNode> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const leaders = [...this.nodes.values()].filter(
        (n) =>
          !this.isolated.has(n.id) &&
          this.disks.get(n.id)?.failure === null &&
          n.status().groups.find((g) => g.shard === shard)?.role === 'leader',
      );
      if (leaders.length === 1 && leaders[0]!.ready()) return leaders[0]!;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no single leader for shard ${shard} within ${timeoutMs} ms`);
  }

  /** Messages (of `type`, or of any type) that node `id` has sent since it (re)started. */
  sentCount(id: string, type?: string): number {
    const sent = this.sent.get(id);
    if (sent === undefined) return 0;
    return type === undefined ? [...sent.values()].reduce((a, b) => a + b, 0) : (sent.get(type) ?? 0);
  }

  /**
   * The leader of `shard` once it is the shard's preferred member (its first), which keeps it:
   * nodes hand leadership to that member, so an earlier leader may lose it midway through a test.
   */
  async settledLeaderOf(shard: number, timeoutMs = 10_000): Promise<RaftKVNode> {
    const preferred = this.config.nodes[shard % this.config.nodes.length]!.id;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leader = await this.leaderOf(shard, Math.max(1, deadline - Date.now()));
      if (leader.id === preferred) return leader;
      if (Date.now() > deadline) throw new Error(`shard ${shard} led by ${leader.id}, not ${preferred}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.shutdown()));
    this.nodes.clear();
  }
}
