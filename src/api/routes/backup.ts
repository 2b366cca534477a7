/**
 * Backup routes (README "Back up and restore"): `GET /v1/admin/backup` streams a whole backup
 * file from any node; `GET /v1/admin/backup/shards/{shard}` is what that node asks of each
 * shard's leader: the shard's state at a ReadIndex-confirmed index, with its index, term, key
 * count and digest in headers. Both need a read-write token when tokens are on (auth.ts).
 */

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { backupMediaType, sha256Hex } from '../../backup/format.js';
import { badRequest, type RaftKVNode } from '../../node/index.js';
import { backupStream, partHeaders } from '../backup-stream.js';
import type { ClusterAuth } from '../cluster-auth.js';
import type { OutboundTls } from '../forward.js';

export interface BackupRouteDeps {
  readonly node: RaftKVNode;
  readonly clusterAuth: ClusterAuth;
  readonly outboundTls?: OutboundTls | undefined;
  readonly log: Logger;
}

export function backupRoutes(app: FastifyInstance, deps: BackupRouteDeps): void {
  const { node } = deps;
  app.get('/v1/admin/backup', async (req, reply) => {
    // Nothing is sent until every shard is collected (tens of seconds for a large store): the
    // client port's idle-socket limit must not cut the answer off meanwhile.
    req.raw.socket.setTimeout(0);
    const body = await backupStream(deps, req.headers.authorization);
    const name = `raftkv-${node.config.clusterId}-${new Date().toISOString().replace(/[:.]/g, '-')}.backup`;
    return reply
      .type(backupMediaType)
      .header('content-disposition', `attachment; filename="${name}"`)
      .send(body);
  });

  app.get<{ Params: { shard: string } }>('/v1/admin/backup/shards/:shard', async (req, reply) => {
    req.raw.socket.setTimeout(0);
    const raw = req.params.shard;
    const shard = /^[0-9]{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(shard) || shard >= node.config.shards)
      throw badRequest(
        `shard ${JSON.stringify(raw)} does not exist (this cluster has shards 0..${node.config.shards - 1})`,
      );
    const s = await node.backupShard(shard);
    const data = Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength);
    return reply
      .type('application/octet-stream')
      .header(partHeaders.index, String(s.index))
      .header(partHeaders.term, String(s.term))
      .header(partHeaders.keys, String(s.keys))
      .header(partHeaders.sha256, sha256Hex(data))
      .send(data);
  });
}
