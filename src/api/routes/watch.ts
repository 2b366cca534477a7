/**
 * `GET /v1/watch?prefix=P[&cursor=C]` (README "Watching changes"): a Server-Sent Events stream of
 * every committed change under P, from every shard, through any node; `Last-Event-ID` (or
 * `cursor`) resumes after the last event seen. `&shard=S[&after=I]` is what one node asks of
 * another for a shard it hosts no replica of (watch-stream.ts relays it).
 */

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { badRequest, type RaftKVNode } from '../../node/index.js';
import { decodeCursor, keyBytesMax, type ShardPosition } from '../../protocol/index.js';
import type { ClusterAuth } from '../cluster-auth.js';
import type { OutboundTls } from '../forward.js';
import { endAllWatches, openWatch } from '../watch-stream.js';

export interface WatchRouteDeps {
  readonly node: RaftKVNode;
  readonly clusterAuth: ClusterAuth;
  readonly outboundTls?: OutboundTls | undefined;
  readonly log: Logger;
}

type WatchQuery = { prefix?: string; cursor?: string; shard?: string; after?: string; seen?: string };

const wholeNumber = (raw: string, what: string): number => {
  const n = /^[0-9]{1,15}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw badRequest(`${what} must be a whole number`);
  return n;
};

export function watchRoutes(app: FastifyInstance, deps: WatchRouteDeps): void {
  const { node } = deps;
  // A stopping node ends its watches first: their streams would hold its close for a second.
  app.addHook('preClose', async () => endAllWatches());
  app.get<{ Querystring: WatchQuery }>('/v1/watch', async (req, reply) => {
    const { prefix, cursor: fromQuery, shard: oneShard, after: afterRaw, seen: seenRaw } = req.query;
    if (typeof prefix !== 'string' || prefix === '')
      throw badRequest('prefix is required and must not be empty (a watch names the keys it follows)');
    if (Buffer.byteLength(prefix) > keyBytesMax)
      throw badRequest(`prefix is longer than a key may be (${keyBytesMax} bytes)`);
    const { shards, clusterId } = node.config;
    let after: (ShardPosition | null)[] = Array.from({ length: shards }, () => null);
    let only: number[] = Array.from({ length: shards }, (_, s) => s);
    if (oneShard !== undefined) {
      const s = wholeNumber(oneShard, 'shard');
      if (s >= shards)
        throw badRequest(`shard ${s} does not exist (this cluster has shards 0..${shards - 1})`);
      only = [s];
      if (afterRaw !== undefined) {
        const seen = seenRaw === undefined ? null : wholeNumber(seenRaw, 'seen');
        if (seen === 0) throw badRequest('seen must be at least 1');
        after[s] = { index: wholeNumber(afterRaw, 'after'), seen };
      }
    } else {
      const lastEventId = req.headers['last-event-id'];
      const text = fromQuery ?? (typeof lastEventId === 'string' ? lastEventId : undefined);
      if (text !== undefined) {
        const d = decodeCursor(text, clusterId, shards);
        if (!d.ok) throw badRequest(`${d.problem}: ${JSON.stringify(text.slice(0, 100))}`);
        after = d.positions;
      }
    }
    const serve = await openWatch(deps, {
      prefix,
      after,
      shards: only,
      authorization: req.headers.authorization,
    });
    reply.hijack();
    serve(reply.raw);
  });
}
