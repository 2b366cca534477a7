/**
 * Replica placement: which nodes carry each shard group, decided from the cluster file alone
 * so every node computes the same map. Shard s sits on `replicas` consecutive nodes starting at
 * node s mod n; its first member is the shard's preferred leader, so leaders spread evenly.
 */

/** The node ids (in preference order) that carry shard `shard`. */
export function shardMembers(nodeIds: readonly string[], shard: number, replicas: number): string[] {
  const n = nodeIds.length;
  if (replicas < 1 || replicas > n) throw new RangeError(`replicas must be 1..${n}`);
  return Array.from({ length: replicas }, (_, k) => nodeIds[(shard + k) % n]!);
}

/** Every shard's members, indexed by shard. */
export function placeShards(nodeIds: readonly string[], shards: number, replicas: number): string[][] {
  return Array.from({ length: shards }, (_, s) => shardMembers(nodeIds, s, replicas));
}
