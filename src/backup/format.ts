/**
 * The backup file (README "Back up and restore"): every shard's state machine at a recorded
 * index, in one file a reader can check end to end before trusting any of it.
 *
 *     raftkv-backup 1\n                                   magic and format
 *     {"clusterId","shards","bytes","createdAt"}\n       what follows (bytes: all parts' data)
 *     per shard, in order:
 *       {"shard","index","term","keys","bytes"}\n        the part's header
 *       <bytes of the shard's snapshot>\n                 KVStateMachine.snapshot() at `index`
 *     {"format","clusterId","shards","createdAt","parts":[{…,"sha256"}],"sha256"}\n   manifest
 *     sha256 <hex>\n                                      the manifest line's own digest
 *
 * The manifest's `sha256` covers every byte before the manifest line, each part's `sha256` its
 * data; the last line covers the manifest. So a truncated file, a flipped byte anywhere, or a
 * manifest edited by hand is refused by checking digests alone.
 */

import { createHash } from 'node:crypto';

export const backupMagic = 'raftkv-backup';
/** The format this build writes; a reader refuses a newer one. */
export const backupFormat = 1;
/** The media type of a backup file on the wire. */
export const backupMediaType = 'application/vnd.raftkv.backup';
/** Longest header or manifest line a reader accepts (a manifest names every shard). */
export const backupLineBytesMax = 1024 * 1024;

/** The second line: what the file holds. */
export interface BackupHeader {
  readonly clusterId: string;
  readonly shards: number;
  /** The sum of the parts' data bytes. */
  readonly bytes: number;
  readonly createdAt: string;
}

/** One shard's snapshot: its state after applying the entry at `index` (of term `term`). */
export interface PartMeta {
  readonly shard: number;
  readonly index: number;
  readonly term: number;
  readonly keys: number;
  readonly bytes: number;
}

export interface PartEntry extends PartMeta {
  readonly sha256: string;
}

export interface Manifest {
  readonly format: number;
  readonly clusterId: string;
  readonly shards: number;
  readonly createdAt: string;
  readonly parts: readonly PartEntry[];
  /** Digest of every byte before the manifest line. */
  readonly sha256: string;
}

export class BackupFormatError extends Error {
  override readonly name = 'BackupFormatError';
}

export const sha256Hex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

const line = (value: unknown): Buffer => Buffer.from(`${JSON.stringify(value)}\n`);

/**
 * Writes a backup file as a sequence of chunks to `write` (which waits for the consumer), in the
 * layout above, keeping only digests: the parts' data streams through.
 */
export class BackupWriter {
  readonly #write: (chunk: Buffer) => Promise<void>;
  readonly #header: BackupHeader;
  readonly #whole = createHash('sha256');
  readonly #parts: PartEntry[] = [];

  constructor(write: (chunk: Buffer) => Promise<void>, header: BackupHeader) {
    this.#write = write;
    this.#header = header;
  }

  async #out(chunk: Buffer): Promise<void> {
    this.#whole.update(chunk);
    await this.#write(chunk);
  }

  async start(): Promise<void> {
    await this.#out(Buffer.from(`${backupMagic} ${backupFormat}\n`));
    await this.#out(line(this.#header));
  }

  /** One shard's part: `data` must yield exactly `meta.bytes` bytes whose digest is `sha256`. */
  async part(meta: PartMeta, sha256: string, data: AsyncIterable<Uint8Array>): Promise<void> {
    await this.#out(line(meta));
    const digest = createHash('sha256');
    let n = 0;
    for await (const chunk of data) {
      const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      n += b.byteLength;
      digest.update(b);
      await this.#out(b);
    }
    const got = digest.digest('hex');
    if (n !== meta.bytes || got !== sha256)
      throw new BackupFormatError(`shard ${meta.shard}'s part changed while it was written`);
    await this.#out(Buffer.from('\n'));
    this.#parts.push({ ...meta, sha256 });
  }

  /** The manifest and its digest line; returns the manifest. */
  async finish(): Promise<Manifest> {
    const manifest: Manifest = {
      format: backupFormat,
      clusterId: this.#header.clusterId,
      shards: this.#header.shards,
      createdAt: this.#header.createdAt,
      parts: this.#parts,
      sha256: this.#whole.digest('hex'),
    };
    const m = line(manifest);
    await this.#write(m);
    await this.#write(Buffer.from(`sha256 ${sha256Hex(m)}\n`));
    return manifest;
  }
}
