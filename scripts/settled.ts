/**
 * When a freshly started local cluster can take its first request: every node answers /readyz
 * 200 and every node sees each shard led by its preferred member (the shard's first member, to
 * which the nodes' leader balancing hands leadership shortly after the first election). Before
 * that, a request can meet a leadership transfer in flight.
 */

/** What GET /v1/cluster says about the shards (the part this check reads). */
interface ClusterShards {
  readonly shards: readonly { readonly members: readonly string[]; readonly leader: string | null }[];
}

async function get(url: string, headers: Record<string, string>): Promise<Response | null> {
  try {
    return await fetch(url, { headers, signal: AbortSignal.timeout(1_000) });
  } catch {
    return null;
  }
}

/** Whether every node is ready and every shard, as each node sees it, is led by its preferred member. */
export async function settled(
  apis: readonly string[],
  headers: Record<string, string> = {},
): Promise<boolean> {
  for (const api of apis) {
    const ready = await get(`${api}/readyz`, headers);
    if (ready?.status !== 200) return false;
    const cluster = await get(`${api}/v1/cluster`, headers);
    if (cluster?.status !== 200) return false;
    const view = (await cluster.json()) as ClusterShards;
    if (!view.shards.every((s) => s.leader !== null && s.leader === s.members[0])) return false;
  }
  return true;
}

/**
 * Polls settled() until it holds or `waitMs` passed; resolves how long it took, or null when it
 * did not settle in time (the cluster may still serve; a node may be slow or down).
 */
export async function awaitSettled(
  apis: readonly string[],
  waitMs: number,
  headers: Record<string, string> = {},
): Promise<number | null> {
  const started = performance.now();
  const deadline = started + waitMs;
  while (performance.now() < deadline) {
    if (await settled(apis, headers)) return Math.round(performance.now() - started);
    await new Promise((r) => setTimeout(r, 50));
  }
  return null;
}
