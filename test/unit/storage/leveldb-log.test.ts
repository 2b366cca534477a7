import { describe, expect, it } from 'vitest';
import { crc32c, findLogDamage, maskCrc } from '../../../src/storage/leveldb-log.js';

const blockBytes = 32 * 1024;
const [full, first, middle, last] = [1, 2, 3, 4];

/** One physical record as LevelDB's log writer lays it out. */
function record(type: number, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from([type]), data]);
  const header = Buffer.alloc(7);
  header.writeUInt32LE(maskCrc(crc32c(body)), 0);
  header.writeUInt16LE(data.byteLength, 4);
  header[6] = type;
  return Buffer.concat([header, data]);
}

const batch = (n: number, fill = 1) => Buffer.alloc(n, fill);

describe("LevelDB's write-ahead log, checked before LevelDB replays it", () => {
  it('computes CRC-32C (Castagnoli) as LevelDB does', () => {
    // The check value of CRC-32C, and LevelDB's own test vectors (crc32c_test.cc).
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
  });

  it('finds nothing wrong in whole records, fragmented records, or zero padding', () => {
    const log = Buffer.concat([
      record(full, batch(20)),
      record(first, batch(10)),
      record(middle, batch(10)),
      record(last, batch(10)),
      Buffer.alloc(100),
    ]);
    expect(findLogDamage(log)).toBe(null);
    expect(findLogDamage(Buffer.alloc(0))).toBe(null);
  });

  it('takes a log cut short at its end (a crash or a full disk mid-write) as sound, as LevelDB does', () => {
    const log = Buffer.concat([record(full, batch(20)), record(full, batch(500))]);
    for (const cut of [log.length - 1, log.length - 400, 27 + 3])
      expect(findLogDamage(log.subarray(0, cut))).toBe(null);
    // A fragmented record whose last fragment never made it.
    expect(findLogDamage(Buffer.concat([record(full, batch(20)), record(first, batch(10))]))).toBe(null);
  });

  it('reports a flipped byte anywhere in a record as a checksum mismatch at that record', () => {
    const log = Buffer.concat([record(full, batch(20)), record(full, batch(40)), record(full, batch(20))]);
    for (const at of [27 + 3, 27 + 7 + 10, 27 + 7 + 39]) {
      const bad = Buffer.from(log);
      bad[at]! ^= 0x10;
      expect(findLogDamage(bad)).toEqual({ offset: 27, reason: 'checksum mismatch' });
    }
  });

  it('reports what LevelDB would drop: bad lengths inside the log, fragments out of order, tiny records', () => {
    const longRecord = record(full, batch(20));
    longRecord.writeUInt16LE(blockBytes, 4);
    const notLastBlock = Buffer.concat([
      longRecord,
      Buffer.alloc(blockBytes - longRecord.length),
      record(full, batch(20)),
    ]);
    expect(findLogDamage(notLastBlock)).toEqual({ offset: 0, reason: 'bad record length' });
    expect(findLogDamage(record(middle, batch(20)))).toEqual({
      offset: 0,
      reason: 'missing start of fragmented record',
    });
    expect(findLogDamage(Buffer.concat([record(first, batch(20)), record(full, batch(20))]))).toEqual({
      offset: 27,
      reason: 'partial record without end',
    });
    expect(findLogDamage(record(full, batch(5)))).toEqual({ offset: 0, reason: 'log record too small' });
    expect(findLogDamage(record(9, batch(20)))).toEqual({ offset: 0, reason: 'unknown record type 9' });
  });
});
