/**
 * The one path by which a request about a shard is answered, for the key routes and for each
 * shard of a listing: served here when this node leads the shard, else forwarded to the leader
 * and its answer relayed. Two waits make a leadership change invisible to the caller when they
 * can: a request that finds no leader known waits (bounded) for the new leader's first message,
 * and one that finds leadership gone when it reaches the Raft core (NotLeaderError: nothing was
 * proposed) is routed once more. Anything else is refused `unavailable`, nothing done.
 */

import { groupName, NotLeaderError, type RaftKVNode, unavailable } from '../node/index.js';
import { hopsHeader, provenanceHeaders } from '../protocol/index.js';
import type { Forwarded, Forwarder } from './forward.js';
import { hopsMax } from './forward.js';

/** What routing needs of the node (and, if it has it, where to note who served a shard). */
export type RoutingNode = Pick<RaftKVNode, 'route' | 'awaitLeader' | 'leaderWaitMs'> &
  Partial<Pick<RaftKVNode, 'noteServedBy'>>;

/** A request about one shard, as it is forwarded if this node does not lead the shard. */
export interface ShardRequest {
  readonly shard: number;
  readonly method: string;
  /** Path and query to send to the leader. */
  readonly url: string;
  /** The caller's headers; the forwarder passes on those the leader needs. */
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer | null;
}

/**
 * Answers `req`: `serve()` when this node leads the shard, `relay(answer)` of the leader's answer
 * otherwise. `serve` may throw NotLeaderError only before it changed anything; the request is
 * then routed again, once. Throws KVError `unavailable` when no leader can be found, the hop
 * limit is reached, or leadership keeps moving; the forwarder's own errors pass through.
 */
export async function serveOrForward<T>(
  deps: { readonly node: RoutingNode; readonly forwarder: Pick<Forwarder, 'forward'> },
  req: ShardRequest,
  serve: () => Promise<T>,
  relay: (answer: Forwarded) => T,
): Promise<T> {
  const { node, forwarder } = deps;
  const { shard } = req;
  let waitedForLeader = false;
  let routedAgain = false;
  // Every pass but the last sets a flag that is never cleared: at most three passes.
  for (;;) {
    const route = node.route(shard);
    if (route.kind === 'local') {
      try {
        return await serve();
      } catch (err) {
        if (!(err instanceof NotLeaderError)) throw err;
        if (routedAgain) throw unavailable(`leadership of ${groupName(shard)} is moving; nothing was done`);
        routedAgain = true;
        continue;
      }
    }
    if (route.kind === 'unknown') {
      if (waitedForLeader) throw unavailable(`no leader known for ${groupName(shard)}`);
      // Between an election and the new leader's first message: wait for it (bounded).
      waitedForLeader = true;
      await node.awaitLeader(shard, node.leaderWaitMs);
      continue;
    }
    const hops = hopsOf(req.headers);
    if (hops >= hopsMax) throw unavailable(`no leader known for ${groupName(shard)}`);
    const answer = await forwarder.forward(route.api, {
      method: req.method,
      url: req.url,
      headers: req.headers,
      body: req.body,
      hops,
    });
    const servedBy = answer.headers[provenanceHeaders.node];
    if (servedBy !== undefined && answer.status < 500) node.noteServedBy?.(shard, servedBy);
    return relay(answer);
  }
}

/** How many nodes relayed the request already; a value that is not a small count stops relaying. */
function hopsOf(headers: ShardRequest['headers']): number {
  const raw = headers[hopsHeader];
  if (raw === undefined) return 0;
  return typeof raw === 'string' && /^[0-9]$/.test(raw) ? Number(raw) : hopsMax;
}
