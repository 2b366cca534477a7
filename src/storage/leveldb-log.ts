/**
 * A reader of LevelDB's write-ahead log format (leveldb doc/log_format.md) that only checks it:
 * it finds the first place where LevelDB's own recovery would report damage and then drop data.
 * LevelDB (as `level` opens it, without paranoid checks) drops such records silently and deletes
 * the log once recovered, so a store checks its logs before LevelDB opens them. Pure; no I/O.
 *
 *   block  = 32 KiB of records; a tail shorter than a header is zero padding
 *   record = <masked crc32c of type+data, u32 LE> <length, u16 LE> <type, u8> <data>
 */

const blockBytes = 32 * 1024;
const headerBytes = 7;
/** The smallest logical record LevelDB accepts: a write batch header (sequence and count). */
const batchHeaderBytes = 12;
const maskDelta = 0xa282ead8;

const zeroType = 0;
const fullType = 1;
const firstType = 2;
const middleType = 3;
const lastType = 4;

/** Where a log is damaged: the byte offset of the record, and what LevelDB would call it. */
export interface LogDamage {
  readonly offset: number;
  readonly reason: string;
}

/**
 * The first damage LevelDB's recovery would report in the log `bytes`, or null for a sound log.
 * A log that merely ends early (a record cut short by a crash or a full disk, in the last block)
 * is sound, as it is to LevelDB: the cut record was never acknowledged as written.
 */
export function findLogDamage(bytes: Uint8Array): LogDamage | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let inRecord = false;
  let recordBytes = 0;
  for (let blockStart = 0; blockStart < bytes.byteLength; blockStart += blockBytes) {
    const blockEnd = Math.min(blockStart + blockBytes, bytes.byteLength);
    // LevelDB reads block by block; a short read marks the end of the file.
    const lastBlock = blockEnd - blockStart < blockBytes;
    let pos = blockStart;
    while (blockEnd - pos >= headerBytes) {
      const length = view.getUint16(pos + 4, true);
      const type = view.getUint8(pos + 6);
      if (pos + headerBytes + length > blockEnd) {
        if (lastBlock) return null;
        return { offset: pos, reason: 'bad record length' };
      }
      // Space a writer preallocated and never filled.
      if (type === zeroType && length === 0) break;
      const stored = unmask(view.getUint32(pos, true));
      if (stored !== crc32c(bytes, pos + 6, pos + headerBytes + length)) {
        return { offset: pos, reason: 'checksum mismatch' };
      }
      switch (type) {
        case fullType:
          if (inRecord) return { offset: pos, reason: 'partial record without end' };
          if (length < batchHeaderBytes) return { offset: pos, reason: 'log record too small' };
          break;
        case firstType:
          if (inRecord) return { offset: pos, reason: 'partial record without end' };
          inRecord = true;
          recordBytes = length;
          break;
        case middleType:
          if (!inRecord) return { offset: pos, reason: 'missing start of fragmented record' };
          recordBytes += length;
          break;
        case lastType:
          if (!inRecord) return { offset: pos, reason: 'missing start of fragmented record' };
          inRecord = false;
          if (recordBytes + length < batchHeaderBytes) return { offset: pos, reason: 'log record too small' };
          break;
        default:
          return { offset: pos, reason: `unknown record type ${type}` };
      }
      pos += headerBytes + length;
    }
  }
  // A fragmented record the log ends inside was cut short by a crash: LevelDB ignores it, as do we.
  return null;
}

function unmask(masked: number): number {
  const rot = (masked - maskDelta) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli), as LevelDB checksums its records, of bytes[start, end). */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.byteLength): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** LevelDB's masked form of a CRC, as stored in a record header; for tests that build logs. */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + maskDelta) >>> 0;
}
