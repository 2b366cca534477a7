import { describe, expect, it } from 'vitest';
import { RaftInvariantError } from '../../../src/raft/invariant.js';
import { StoreCorruptError, StoreFailedError } from '../../../src/storage/store-errors.js';
import { describeStoreFailure, systemErrorOf } from '../../../src/storage/store-failure.js';
import { diskError } from './failing-store.js';

describe('describeStoreFailure', () => {
  it("names the system error of Node's errno errors and of LevelDB's IO errors, through causes", () => {
    const levelDb = Object.assign(new Error('IO error: /data/n1/raft/000003.log: No space left on device'), {
      code: 'LEVEL_IO_ERROR',
    });
    expect(describeStoreFailure(levelDb)).toBe('ENOSPC: no space left on device');
    expect(describeStoreFailure(new StoreFailedError(levelDb))).toBe('ENOSPC: no space left on device');
    expect(describeStoreFailure(new Error('IO error: /d/000007.ldb: Input/output error'))).toBe(
      'EIO: input/output error',
    );
    expect(describeStoreFailure(diskError('EIO', 'fsync'))).toBe('EIO: input/output error');
    expect(describeStoreFailure(diskError('EROFS', 'write'))).toBe('EROFS: read-only file system');
    expect(systemErrorOf(Object.assign(new Error('x'), { code: 'ENOTSUP' }))).toBe('ENOTSUP');
  });

  it("gives a store's own message when no system error is behind it, and null for an error not of a store", () => {
    expect(describeStoreFailure(new StoreCorruptError(1, 'entry', 4, 'checksum mismatch'))).toBe(
      'store corrupt: group 1 entry 4: checksum mismatch',
    );
    expect(
      describeStoreFailure(Object.assign(new Error('Corruption: bad block'), { code: 'LEVEL_CORRUPTION' })),
    ).toBe('Corruption: bad block');
    expect(describeStoreFailure(new RaftInvariantError('commit went back'))).toBe(null);
    expect(describeStoreFailure(new TypeError('x is undefined'))).toBe(null);
  });
});
