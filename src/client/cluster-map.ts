/**
 * What a client knows about a cluster: its nodes' API URLs, each shard's members and last known
 * leader, and the ring, learned from `GET /v1/cluster` and corrected by the X-Raft-Node header of
 * every answer the shard's leader served; learned anew when an answer's X-Raft-Epoch is newer.
 */

import { HashRing, type RingSpec } from '../shard/index.js';

/** The body of GET /v1/cluster (README's API). */
export interface ClusterDescription {
  readonly clusterId: string;
  /** The membership epoch the description comes from (absent from nodes before membership changes). */
  readonly epoch?: number;
  readonly nodes: readonly { readonly id: string; readonly api: string; readonly peer: string }[];
  readonly shards: readonly {
    readonly shard: number;
    readonly members: readonly string[];
    readonly leader: string | null;
    readonly term: number | null;
  }[];
  readonly ring: RingSpec;
}

export class ClusterMap {
  readonly clusterId: string;
  /** The membership epoch of the description: a reply with a newer one means the map is outdated. */
  readonly epoch: number;
  readonly ring: HashRing;
  readonly #api = new Map<string, string>();
  readonly #members: (readonly string[])[];
  readonly #leaders: (string | null)[];
  /** Round-robin position per shard for stale reads. */
  readonly #nextReplica: number[];

  constructor(d: ClusterDescription) {
    this.clusterId = d.clusterId;
    this.epoch = d.epoch ?? 0;
    this.ring = HashRing.fromSpec(d.ring);
    for (const n of d.nodes) this.#api.set(n.id, n.api);
    this.#members = d.shards.map((s) => s.members);
    this.#leaders = d.shards.map((s) => s.leader);
    this.#nextReplica = d.shards.map(() => 0);
  }

  shardOf(key: string): number {
    return this.ring.shardOf(key);
  }

  get shardCount(): number {
    return this.#members.length;
  }

  /** Node API URLs to try for a leader-only request, best first: the known leader, then the members. */
  leaderCandidates(shard: number): string[] {
    const leader = this.#leaders[shard] ?? null;
    const ids = [
      ...(leader === null ? [] : [leader]),
      ...(this.#members[shard] ?? []).filter((m) => m !== leader),
    ];
    return ids.map((id) => this.#api.get(id)).filter((u): u is string => u !== undefined);
  }

  /** Replicas of a shard in round-robin order, for stale reads. */
  replicaCandidates(shard: number): string[] {
    const members = this.#members[shard] ?? [];
    const start = this.#nextReplica[shard] ?? 0;
    this.#nextReplica[shard] = (start + 1) % Math.max(1, members.length);
    const ordered = [...members.slice(start), ...members.slice(0, start)];
    return ordered.map((id) => this.#api.get(id)).filter((u): u is string => u !== undefined);
  }

  /** A node that served a leader-only request of `shard` is its leader. */
  learnLeader(shard: number, node: string): void {
    if (shard >= 0 && shard < this.#leaders.length && this.#api.has(node)) this.#leaders[shard] = node;
  }

  forgetLeader(shard: number): void {
    if (shard >= 0 && shard < this.#leaders.length) this.#leaders[shard] = null;
  }

  leader(shard: number): string | null {
    return this.#leaders[shard] ?? null;
  }

  apiUrls(): string[] {
    return [...this.#api.values()];
  }
}
