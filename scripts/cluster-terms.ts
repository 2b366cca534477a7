/**
 * The terms a benchmark reads before and after a run, to tell whether a leader changed during it:
 * raftkv's per shard (the highest any node reports), etcd's as its first member reports it.
 */

/** Each raftkv shard's highest term, as the nodes report it. */
export async function raftkvTerms(endpoints: readonly string[]): Promise<string> {
  const terms = new Map<number, number>();
  for (const e of endpoints) {
    const s = (await (await fetch(`${e}/v1/status`)).json()) as { groups: { shard: number; term: number }[] };
    for (const g of s.groups) terms.set(g.shard, Math.max(terms.get(g.shard) ?? 0, g.term));
  }
  return JSON.stringify([...terms].sort((a, b) => a[0] - b[0]));
}

/** etcd's raft term, as its first member reports it. */
export async function etcdTerm(endpoints: readonly string[]): Promise<string> {
  const res = await fetch(`${endpoints[0]}/v3/maintenance/status`, { method: 'POST', body: '{}' });
  return String(((await res.json()) as { raftTerm?: string }).raftTerm);
}
