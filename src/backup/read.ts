/**
 * Reading a backup file (format.ts): verify() checks the whole file, digest by digest, before
 * anything is taken from it, reading it in bounded chunks; readPart() then returns one shard's
 * data. Every refusal is a BackupFormatError with one line saying what is wrong.
 */

import { createHash, type Hash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import {
  BackupFormatError,
  type BackupHeader,
  backupFormat,
  backupLineBytesMax,
  backupMagic,
  type Manifest,
  type PartEntry,
  sha256Hex,
} from './format.js';

const chunkBytes = 1024 * 1024;

export interface VerifiedPart {
  readonly entry: PartEntry;
  /** Where the part's data starts in the file. */
  readonly offset: number;
}

export interface VerifiedBackup {
  readonly header: BackupHeader;
  readonly manifest: Manifest;
  readonly parts: readonly VerifiedPart[];
}

const refuse = (why: string): never => {
  throw new BackupFormatError(why);
};

/** Positional reads of an open file. */
class FileReader {
  readonly fd: number;
  readonly size: number;

  constructor(path: string) {
    try {
      this.fd = openSync(path, 'r');
    } catch (err) {
      throw new BackupFormatError(`cannot read ${path}: ${(err as Error).message}`);
    }
    this.size = fstatSync(this.fd).size;
  }

  read(at: number, n: number): Buffer {
    const b = Buffer.alloc(Math.max(0, Math.min(n, this.size - at)));
    let got = 0;
    while (got < b.byteLength) {
      let r: number;
      try {
        r = readSync(this.fd, b, got, b.byteLength - got, at + got);
      } catch (err) {
        throw new BackupFormatError(`cannot read the backup: ${(err as Error).message}`);
      }
      if (r === 0) break;
      got += r;
    }
    return b.subarray(0, got);
  }

  /** The line starting at `at`, without its newline, and where the next one starts; null if none ends within the limit. */
  line(at: number): { text: string; next: number } | null {
    const b = this.read(at, backupLineBytesMax + 1);
    const end = b.indexOf(0x0a);
    if (end < 0) return null;
    return { text: b.subarray(0, end).toString('utf8'), next: at + end + 1 };
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The line as a JSON object; anything else (not JSON, null, an array, a number) is damage. */
function json<T>(text: string, what: string): T {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return refuse(`the ${what} is not valid JSON: the file is damaged`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    refuse(`the ${what} is not a JSON object: the file is damaged`);
  return v as T;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** A manifest's part: every field of the right kind. */
const isPartEntry = (p: unknown): p is PartEntry => {
  if (typeof p !== 'object' || p === null) return false;
  const e = p as Record<string, unknown>;
  return (
    isCount(e.shard) &&
    isCount(e.index) &&
    isCount(e.term) &&
    isCount(e.keys) &&
    isCount(e.bytes) &&
    typeof e.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(e.sha256)
  );
};

/** The format on the first line; refuses a file that is not a backup or is of a newer format. */
function checkMagic(f: FileReader): number {
  const first = f.line(0);
  const m = first === null ? null : /^([a-z-]+) ([0-9]{1,6})$/.exec(first.text);
  if (first === null || m === null || m[1] !== backupMagic) return refuse('not a raftkv backup file');
  const format = Number(m[2]);
  if (format > backupFormat)
    refuse(`the backup has format ${format}, newer than this build's ${backupFormat}: use a newer raftkv`);
  return first.next;
}

/** The manifest from the file's last two lines, its own digest checked. */
function readManifest(f: FileReader): { manifest: Manifest; at: number } {
  const tailBytes = Math.min(f.size, backupLineBytesMax + 128);
  const tail = f.read(f.size - tailBytes, tailBytes);
  const truncated = 'the file is truncated or damaged: it does not end with its digest line';
  if (tail.length === 0 || tail[tail.length - 1] !== 0x0a) return refuse(truncated);
  const lastStart = tail.lastIndexOf(0x0a, tail.length - 2) + 1;
  const last = /^sha256 ([0-9a-f]{64})$/.exec(tail.subarray(lastStart, tail.length - 1).toString('latin1'));
  if (lastStart === 0 || last === null) return refuse(truncated);
  const manifestStart = tail.lastIndexOf(0x0a, lastStart - 2) + 1;
  const manifestLine = tail.subarray(manifestStart, lastStart);
  if (sha256Hex(manifestLine) !== last[1])
    refuse('the manifest does not match its digest: the file is damaged');
  const manifest = json<Manifest>(manifestLine.toString('utf8'), 'manifest');
  if (!isCount(manifest.format) || manifest.format < 1)
    refuse('the manifest has no valid format number: the file is damaged');
  if (manifest.format > backupFormat)
    refuse(`the manifest has format ${manifest.format}, newer than this build's ${backupFormat}`);
  if (
    !Array.isArray(manifest.parts) ||
    !manifest.parts.every(isPartEntry) ||
    typeof manifest.sha256 !== 'string' ||
    typeof manifest.clusterId !== 'string' ||
    !isCount(manifest.shards)
  )
    refuse('the manifest lacks its cluster id, shards, parts or digest: the file is damaged');
  return { manifest, at: f.size - tailBytes + manifestStart };
}

const samePart = (a: PartEntry, b: Record<string, unknown>): boolean =>
  a.shard === b.shard && a.index === b.index && a.term === b.term && a.keys === b.keys && a.bytes === b.bytes;

/** Feeds `n` bytes from `at` to each hash, in bounded chunks. */
function hashRange(f: FileReader, at: number, n: number, hashes: readonly Hash[]): void {
  for (let done = 0; done < n; ) {
    const b = f.read(at + done, Math.min(chunkBytes, n - done));
    if (b.length === 0) refuse('the file is truncated');
    for (const h of hashes) h.update(b);
    done += b.length;
  }
}

/** Checks every digest and the layout of the whole file; the parts' data is only hashed, never kept. */
export function verifyBackup(path: string): VerifiedBackup {
  const f = new FileReader(path);
  try {
    let at = checkMagic(f);
    const { manifest, at: manifestAt } = readManifest(f);
    const whole = createHash('sha256');
    hashRange(f, 0, at, [whole]);
    const headerLine = f.line(at) ?? refuse('the header line is missing: the file is damaged');
    const header = json<BackupHeader>(headerLine.text, 'header');
    hashRange(f, at, headerLine.next - at, [whole]);
    at = headerLine.next;
    if (header.clusterId !== manifest.clusterId || header.shards !== manifest.shards)
      refuse('the header and the manifest disagree: the file is damaged');
    if (manifest.parts.length !== manifest.shards || manifest.parts.some((p, i) => p.shard !== i))
      refuse('the manifest does not hold one part per shard, in order');
    const parts: VerifiedPart[] = [];
    for (const entry of manifest.parts) {
      const partLine = f.line(at);
      if (partLine === null || at >= manifestAt) return refuse(`shard ${entry.shard}'s part is missing`);
      if (!samePart(entry, json<Record<string, unknown>>(partLine.text, `header of shard ${entry.shard}`)))
        refuse(`shard ${entry.shard}'s part header disagrees with the manifest: the file is damaged`);
      hashRange(f, at, partLine.next - at, [whole]);
      const offset = partLine.next;
      if (offset + entry.bytes + 1 > manifestAt) refuse(`shard ${entry.shard}'s part is cut short`);
      const digest = createHash('sha256');
      hashRange(f, offset, entry.bytes, [whole, digest]);
      if (digest.digest('hex') !== entry.sha256)
        refuse(`shard ${entry.shard}'s data does not match its digest: the file is damaged`);
      const end = f.read(offset + entry.bytes, 1);
      if (end[0] !== 0x0a) refuse(`shard ${entry.shard}'s part does not end where its header says`);
      hashRange(f, offset + entry.bytes, 1, [whole]);
      parts.push({ entry, offset });
      at = offset + entry.bytes + 1;
    }
    if (at !== manifestAt) refuse('unexpected bytes between the last part and the manifest');
    if (whole.digest('hex') !== manifest.sha256) refuse('the file does not match its digest: it is damaged');
    return { header, manifest, parts };
  } finally {
    f.close();
  }
}

/** One verified part's data. */
export function readPart(path: string, part: VerifiedPart): Buffer {
  const f = new FileReader(path);
  try {
    const b = f.read(part.offset, part.entry.bytes);
    if (b.byteLength !== part.entry.bytes || sha256Hex(b) !== part.entry.sha256)
      refuse(`shard ${part.entry.shard}'s data changed since it was verified`);
    return b;
  } finally {
    f.close();
  }
}
