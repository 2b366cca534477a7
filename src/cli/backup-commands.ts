/**
 * `raftkv backup` and `raftkv restore` (README "Back up and restore").
 *
 * backup asks the first node that answers for `GET /v1/admin/backup`, streams it into
 * `FILE.partial` (a progress bar on a terminal), verifies the whole file and only then names it
 * FILE: a file called FILE is always a complete, verified backup. restore prepares one node's
 * data directory of a new cluster (server/restore.ts). Both print one line on failure and exit 1.
 */

import { createWriteStream, existsSync, renameSync, rmSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import { BackupFormatError, type BackupHeader } from '../backup/format.js';
import { verifyBackup } from '../backup/read.js';
import { agentFor, authHeaders } from '../client/connect.js';
import { ConfigError } from '../config/cluster-file.js';
import { StartupError } from '../node/node.js';
import { RestoreError, restore } from '../server/restore.js';
import type { Connection } from './connection.js';
import { exitCodes } from './exit-codes.js';

/** How long a node may take to collect every shard before it answers (its own retries included). */
const answerTimeoutMs = 120_000;

class Failed extends Error {}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
/** A size as people read it: bytes, kB or MB. */
const size = (n: number) => (n < 1e3 ? `${n} bytes` : n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : mb(n));

/** Draws "backup [#####-----]  50% 12.0 MB of 24.0 MB" on stderr, at most 10 times a second. */
class ProgressBar {
  #total: number | null = null;
  #drawnAt = 0;
  #head = Buffer.alloc(0);

  /** Watches the stream's first lines for the header (format.ts), which gives the size. */
  seen(chunk: Buffer, received: number): void {
    if (this.#total === null && this.#head.length < 1_048_576) {
      this.#head = Buffer.concat([this.#head, chunk]);
      const lines = this.#head.toString('utf8').split('\n');
      if (lines.length > 2) {
        try {
          this.#total = (JSON.parse(lines[1]!) as BackupHeader).bytes;
        } catch {
          this.#total = 0;
        }
      }
    }
    const now = Date.now();
    if (now - this.#drawnAt < 100) return;
    this.#drawnAt = now;
    this.#draw(received);
  }

  #draw(received: number): void {
    const total = this.#total ?? 0;
    const share = total > 0 ? Math.min(1, received / total) : 0;
    const width = 30;
    const filled = Math.round(share * width);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
    const of = total > 0 ? ` of ${mb(total)}` : '';
    process.stderr.write(
      `\rbackup [${bar}] ${String(Math.round(share * 100)).padStart(3)}% ${mb(received)}${of}`,
    );
  }

  done(received: number): void {
    this.#draw(received);
    process.stderr.write('\n');
  }
}

/** The first node that answers streams the backup into `partial`. */
async function download(c: Connection, partial: string): Promise<void> {
  const dispatcher = agentFor({ ca: c.ca });
  const reasons: string[] = [];
  try {
    for (const endpoint of c.endpoints) {
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(new URL('/v1/admin/backup', endpoint), {
          method: 'GET',
          headers: authHeaders({ token: c.token }),
          dispatcher,
          headersTimeout: answerTimeoutMs,
          bodyTimeout: answerTimeoutMs,
        });
      } catch (err) {
        reasons.push(`${endpoint}: ${(err as Error).message}`);
        continue;
      }
      if (res.statusCode !== 200) {
        const text = await res.body.text();
        let why = text.slice(0, 300);
        try {
          const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
          if (e !== undefined) why = `${e.code} (${res.statusCode}): ${e.message}`;
        } catch {}
        // A refusal (no token, a read-only one) is the same everywhere; unavailability may not be.
        if (res.statusCode < 500) throw new Failed(why);
        reasons.push(`${endpoint}: ${why}`);
        continue;
      }
      const bar = process.stderr.isTTY ? new ProgressBar() : null;
      let received = 0;
      try {
        await pipeline(
          res.body,
          async function* (chunks: AsyncIterable<Buffer>) {
            for await (const chunk of chunks) {
              received += chunk.byteLength;
              bar?.seen(chunk, received);
              yield chunk;
            }
          },
          createWriteStream(partial),
        );
      } catch (err) {
        // Cut off midway (the node stopped): what arrived is not a backup; another node may make one.
        reasons.push(`${endpoint}: the answer was cut off (${(err as Error).message})`);
        continue;
      } finally {
        bar?.done(received);
      }
      return;
    }
  } finally {
    await dispatcher.close();
  }
  throw new Failed(`no node could make the backup (${reasons.join('; ')})`);
}

export async function backupCommand(c: Connection, o: { out: string }): Promise<void> {
  const partial = `${o.out}.partial`;
  try {
    if (existsSync(o.out)) throw new Failed(`${o.out} exists; give --out a new file`);
    await download(c, partial);
    const { manifest } = verifyBackup(partial);
    renameSync(partial, o.out);
    const keys = manifest.parts.reduce((n, p) => n + p.keys, 0);
    const bytes = manifest.parts.reduce((n, p) => n + p.bytes, 0);
    process.stdout.write(
      `backup of cluster ${manifest.clusterId}: ${manifest.shards} shards, ${keys} keys, ${size(bytes)} -> ${o.out}\n`,
    );
    for (const p of manifest.parts)
      process.stdout.write(`  shard ${p.shard}: index ${p.index} (term ${p.term}), ${p.keys} keys\n`);
  } catch (err) {
    rmSync(partial, { force: true });
    if (!(err instanceof Failed || err instanceof BackupFormatError)) throw err;
    process.stderr.write(`raftkv: backup failed: ${err.message}\n`);
    process.exitCode = exitCodes.failed;
  }
}

export async function restoreCommand(o: {
  from: string;
  config: string;
  id: string;
  data: string;
}): Promise<void> {
  try {
    const s = await restore({ from: o.from, configPath: o.config, id: o.id, dataDir: o.data });
    const keys = s.shards.reduce((n, p) => n + p.keys, 0);
    process.stdout.write(
      `restored ${o.data} for node ${o.id} of cluster ${s.clusterId} (from ${s.fromClusterId}): ${s.shards.length} shards, ${keys} keys\n`,
    );
    for (const p of s.shards)
      process.stdout.write(`  shard ${p.shard}: from index ${p.index}, ${p.keys} keys\n`);
  } catch (err) {
    const known =
      err instanceof BackupFormatError ||
      err instanceof RestoreError ||
      err instanceof ConfigError ||
      err instanceof StartupError;
    if (!known) throw err;
    process.stderr.write(`raftkv: restore refused: ${err.message}\n`);
    process.exitCode = exitCodes.failed;
  }
}
