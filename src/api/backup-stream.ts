/**
 * A backup made by the node that was asked for it (README "Back up and restore"): every shard's
 * leader takes a linearizable snapshot (RaftKVNode.backupShard) at an index it records; this node
 * collects them into files of its own first, so that a leader lost midway is retried on the next
 * one without a byte of the answer sent, then streams them as one backup file (backup/format.ts).
 * Memory holds at most the one shard snapshot this node takes itself; the rest streams through.
 */

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { BackupWriter, type PartMeta, sha256Hex } from '../backup/format.js';
import { groupPath, type RaftKVNode, unavailable } from '../node/index.js';
import type { ClusterAuth } from './cluster-auth.js';
import type { OutboundTls } from './forward.js';

/** How long the backup keeps retrying one shard (its leader lost, a new one being elected). */
export const backupShardDeadlineMs = 30_000;
/** The pause between two tries of one shard. */
const retryPauseMs = 250;

/** The headers a shard's leader answers its part with. */
export const partHeaders = {
  index: 'x-raftkv-backup-index',
  term: 'x-raftkv-backup-term',
  keys: 'x-raftkv-backup-keys',
  sha256: 'x-raftkv-backup-sha256',
} as const;

/** The path a node asks a shard's leader for that shard's part on. */
export const partPath = (shard: number) => `/v1/admin/backup/shards/${groupPath(shard)}`;

export interface BackupDeps {
  readonly node: RaftKVNode;
  readonly clusterAuth: ClusterAuth;
  readonly outboundTls?: OutboundTls | undefined;
  readonly log: Logger;
}

interface Spooled {
  readonly meta: PartMeta;
  readonly sha256: string;
  readonly path: string;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const header = (v: string | string[] | undefined): number => (typeof v === 'string' ? Number(v) : Number.NaN);

/** One shard's part, into `file`: from this node if it leads the shard, else from its leader. */
async function fetchPart(
  d: BackupDeps,
  dispatcher: Agent,
  shard: number,
  file: string,
  authorization: string | undefined,
): Promise<Spooled> {
  const route = d.node.route(shard);
  if (route.kind === 'local') {
    const s = await d.node.backupShard(shard);
    await writeFile(file, s.data);
    const meta = { shard, index: s.index, term: s.term, keys: s.keys, bytes: s.data.byteLength };
    return { meta, sha256: sha256Hex(s.data), path: file };
  }
  if (route.kind !== 'remote') throw unavailable(`shard ${shard} has no leader this node knows of`);
  const path = partPath(shard);
  const res = await request(new URL(path, route.api), {
    method: 'GET',
    headers: {
      ...(authorization === undefined ? {} : { authorization }),
      ...d.clusterAuth.headers('GET', path),
    },
    dispatcher,
    headersTimeout: backupShardDeadlineMs,
    bodyTimeout: backupShardDeadlineMs,
  });
  if (res.statusCode !== 200) {
    const text = (await res.body.text()).slice(0, 300);
    throw unavailable(`node ${route.node} answered ${res.statusCode} for shard ${shard}: ${text}`);
  }
  const digest = createHash('sha256');
  let bytes = 0;
  await pipeline(
    res.body,
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        digest.update(chunk);
        bytes += chunk.byteLength;
        yield chunk;
      }
    },
    createWriteStream(file),
  );
  const sha256 = digest.digest('hex');
  if (sha256 !== res.headers[partHeaders.sha256])
    throw unavailable(`shard ${shard}'s part from ${route.node} arrived damaged or cut short`);
  const meta = {
    shard,
    index: header(res.headers[partHeaders.index]),
    term: header(res.headers[partHeaders.term]),
    keys: header(res.headers[partHeaders.keys]),
    bytes,
  };
  if (![meta.index, meta.term, meta.keys].every(Number.isSafeInteger))
    throw unavailable(`node ${route.node} answered shard ${shard}'s part without its index, term or keys`);
  return { meta, sha256, path: file };
}

/** fetchPart until it succeeds or the shard's deadline passes (its leader died: the next one serves it). */
async function spoolShard(
  d: BackupDeps,
  dispatcher: Agent,
  shard: number,
  dir: string,
  authorization: string | undefined,
): Promise<Spooled> {
  const deadline = Date.now() + backupShardDeadlineMs;
  const file = join(dir, `shard-${shard}`);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetchPart(d, dispatcher, shard, file, authorization);
    } catch (err) {
      const why = (err as Error).message;
      if (Date.now() + retryPauseMs > deadline)
        throw unavailable(
          `backup: shard ${shard} could not be copied within ${backupShardDeadlineMs} ms (${why})`,
        );
      d.log.warn({ shard, attempt, err: why }, 'backup: shard not copied; trying again');
      await pause(retryPauseMs);
    }
  }
}

/**
 * Takes every shard's part (before answering anything: a failure is then a plain error answer),
 * then returns the backup file as a stream. The collected files are removed once it ends.
 */
export async function backupStream(d: BackupDeps, authorization: string | undefined): Promise<Readable> {
  const dir = await mkdtemp(join(tmpdir(), 'raftkv-backup-'));
  const dispatcher = new Agent({ connect: { ...d.outboundTls } });
  const cleanUp = async () => {
    await dispatcher.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  let parts: Spooled[];
  try {
    parts = [];
    for (let shard = 0; shard < d.node.config.shards; shard++)
      parts.push(await spoolShard(d, dispatcher, shard, dir, authorization));
  } catch (err) {
    await cleanUp();
    throw err;
  }
  d.log.info(
    { parts: parts.map((p) => ({ shard: p.meta.shard, index: p.meta.index, keys: p.meta.keys })) },
    'backup taken',
  );
  const out = new PassThrough();
  // Waits for the reader; a reader gone (the connection closed) ends the writing.
  const write = async (chunk: Buffer) => {
    if (out.destroyed) throw new Error("the backup's reader went away");
    if (out.write(chunk)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        out.off('drain', done);
        out.off('close', done);
        resolve();
      };
      out.once('drain', done);
      out.once('close', done);
    });
  };
  const writer = new BackupWriter(write, {
    clusterId: d.node.config.clusterId,
    shards: parts.length,
    bytes: parts.reduce((n, p) => n + p.meta.bytes, 0),
    createdAt: new Date().toISOString(),
  });
  void (async () => {
    try {
      await writer.start();
      for (const p of parts) await writer.part(p.meta, p.sha256, createReadStream(p.path));
      await writer.finish();
      out.end();
    } catch (err) {
      // The answer has begun: all that is left is to cut it, which the reader sees as truncation.
      d.log.error({ err }, 'backup: writing the file failed');
      out.destroy(err as Error);
    } finally {
      await cleanUp();
    }
  })();
  return out;
}
