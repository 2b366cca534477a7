/**
 * The one path by which a request about a shard is answered, for the key routes and for each
 * shard of a listing: served here when this node leads the shard, else served by the leader's
 * node through a call on the peer stream (node/remote.ts) when the request allows it and a
 * stream is open, else forwarded to the leader over HTTP and its answer relayed. Two waits make a leadership change invisible to the caller when they
 * can: a request that finds no leader known waits (bounded) for the new leader's first message,
 * and one that finds leadership gone when it reaches the Raft core (NotLeaderError: nothing was
 * proposed) is routed once more. Anything else is refused `unavailable`, nothing done.
 */

import {
  groupName,
  NotLeaderError,
  NotSentError,
  type RaftKVNode,
  type ShardServer,
  unavailable,
} from '../node/index.js';
import { hopsHeader, provenanceHeaders } from '../protocol/index.js';
import type { Forwarded, Forwarder } from './forward.js';
import { hopsMax } from './forward.js';

/** What routing needs of the node (and, if it has it, where to note who served a shard). */
export type RoutingNode = Pick<RaftKVNode, 'route' | 'awaitLeader' | 'leaderWaitMs'> &
  Pick<RaftKVNode, 'apiOf'> &
  Partial<Pick<RaftKVNode, 'noteServedBy' | 'remoteServer'>> &
  ShardServer;

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
 * Answers `req`: `serve(node)` when this node leads the shard; `serve(leader)` with the leader's
 * node reached by calls when `serve` may run remotely (`remote`) and a stream to it is open;
 * else `relay(answer)` of the leader's answer to the forwarded request. `serve` may throw
 * NotLeaderError only before it changed anything; the request is then routed again, once, to
 * the leader the refusing node named if it named one. Throws KVError `unavailable` when no
 * leader can be found, the hop limit is reached, or leadership keeps moving; the forwarder's and
 * the leader's own errors pass through.
 */
export async function serveOrForward<T>(
  deps: {
    readonly node: RoutingNode;
    readonly forwarder: Pick<Forwarder, 'forward'>;
    /** Counts a request served by another node through a call (the forwarder counts its own). */
    readonly onRemote?: () => void;
  },
  req: ShardRequest,
  serve: (on: ShardServer) => Promise<T>,
  relay: (answer: Forwarded) => T,
  opts: { readonly remote: boolean } = { remote: false },
): Promise<T> {
  const { node, forwarder } = deps;
  const { shard } = req;
  let waitedForLeader = false;
  let routedAgain = false;
  /** The leader named by the node that refused as not the leader, if it named one. */
  let named: string | null = null;
  // The one second chance after a refusal that did nothing; anything else passes through.
  const routeAgain = (err: unknown): string | null => {
    if (!(err instanceof NotLeaderError)) throw err;
    if (routedAgain) throw unavailable(`leadership of ${groupName(shard)} is moving; nothing was done`);
    routedAgain = true;
    return err.leader;
  };
  // Every pass but the last sets a flag that is never cleared: at most three passes.
  for (;;) {
    const known = node.route(shard);
    const route =
      named !== null && known.kind !== 'local'
        ? { kind: 'remote' as const, node: named, api: node.apiOf(named) }
        : known;
    if (route.kind === 'local') {
      try {
        return await serve(node);
      } catch (err) {
        named = routeAgain(err);
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
    const remote = opts.remote ? (node.remoteServer?.(route.node) ?? null) : null;
    if (remote !== null) {
      try {
        const served = await serve(remote);
        deps.onRemote?.();
        return served;
      } catch (err) {
        // Not sent (no stream to the leader's node yet): relayed over HTTP below, counted there.
        if (!(err instanceof NotSentError)) {
          deps.onRemote?.();
          named = routeAgain(err);
          continue;
        }
      }
    }
    const hops = hopsOf(req.headers);
    if (hops >= hopsMax || route.api === null) throw unavailable(`no leader known for ${groupName(shard)}`);
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
