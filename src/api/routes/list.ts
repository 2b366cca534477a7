/**
 * GET /v1/kv?prefix=P&limit=N[&after=K]: a prefix listing across all shards. Every shard's leader
 * is asked in parallel (here or by forwarding with `shard=S`), the pages are merged sorted by key,
 * and `more` with `next` (pass it as `after`) lets a caller continue.
 */

import type { FastifyInstance } from 'fastify';
import type { RaftKVNode } from '../../node/index.js';
import { badRequest, compareKeys, type KVItem, unavailable, utf8ByteLength } from '../../node/index.js';
import {
  isListLimit,
  keyBytesMax,
  listLimitDefault,
  listLimitMax,
  listLimitMin,
} from '../../protocol/index.js';
import type { Forwarder } from '../forward.js';
import { serveOrForward } from '../serve-or-forward.js';
import { parseConsistency } from './kv.js';

interface ListQuery {
  prefix?: string;
  limit?: string;
  after?: string;
  consistency?: string;
  shard?: string;
}

interface WireItem {
  key: string;
  value: string;
  version: string;
}

interface ShardPage {
  items: WireItem[];
  more: boolean;
}

export function listRoutes(
  app: FastifyInstance,
  { node, forwarder }: { node: RaftKVNode; forwarder: Forwarder },
): void {
  app.get<{ Querystring: ListQuery }>('/v1/kv', async (req) => {
    const q = req.query;
    const prefix = q.prefix ?? '';
    const after = q.after ?? null;
    // A parameter given twice arrives as an array, which nothing below could take (a 500).
    if (typeof prefix !== 'string' || (after !== null && typeof after !== 'string'))
      throw badRequest('prefix and after may be given once each');
    const limit = q.limit === undefined ? listLimitDefault : Number(q.limit);
    if (!isListLimit(limit)) {
      throw badRequest(`limit must be an integer from ${listLimitMin} to ${listLimitMax}`);
    }
    if (utf8ByteLength(prefix) < 0 || utf8ByteLength(prefix) > keyBytesMax)
      throw badRequest('prefix is not a valid key prefix');
    const consistency = parseConsistency(q.consistency);

    /** One shard's page: from this node's replica, or from the shard's leader with `shard=S`. */
    const pageOf = async (shard: number): Promise<ShardPage> => {
      if (consistency === 'stale' && node.groups.has(shard)) return local(shard, 'stale');
      const params = new URLSearchParams({ prefix, limit: String(limit), consistency, shard: String(shard) });
      if (after !== null) params.set('after', after);
      return serveOrForward(
        { node, forwarder },
        // The forwarder passes on what the leader needs, the caller's token among it.
        { shard, method: 'GET', url: `/v1/kv?${params}`, headers: req.headers, body: null },
        () => local(shard, consistency),
        (res) => {
          if (res.status !== 200)
            throw unavailable(`shard ${shard} could not be listed (status ${res.status})`);
          return JSON.parse(res.body.toString('utf8')) as ShardPage;
        },
      );
    };
    const local = async (shard: number, c: 'linearizable' | 'stale'): Promise<ShardPage> => {
      const { page } = await node.list(shard, prefix, after, limit, c);
      return { items: page.items.map(toWire), more: page.more };
    };

    if (q.shard !== undefined) {
      const shard = Number(q.shard);
      if (!Number.isInteger(shard) || shard < 0 || shard >= node.config.shards)
        throw badRequest('no such shard');
      return pageOf(shard);
    }
    const pages = await Promise.all(Array.from({ length: node.config.shards }, (_, s) => pageOf(s)));
    const merged = pages.flatMap((p) => p.items).sort((a, b) => compareKeys(a.key, b.key));
    const items = merged.slice(0, limit);
    const more = merged.length > limit || pages.some((p) => p.more);
    return more ? { items, more, next: items.at(-1)?.key ?? after } : { items, more };
  });
}

function toWire(item: KVItem): WireItem {
  return { key: item.key, value: Buffer.from(item.value).toString('base64'), version: item.version };
}
