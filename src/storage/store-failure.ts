/**
 * What a storage failure was, for the one line a node logs before it stops and for start-up
 * refusals: the operating-system error behind it ("ENOSPC: no space left on device"), found in
 * Node's errno errors and in LevelDB's "IO error: <file>: <strerror text>" messages, through any
 * chain of `cause`s. Pure.
 */

import { InvalidWriteError, StoreClosedError, StoreCorruptError, StoreFailedError } from './store-errors.js';

/** The errors a disk gives that an operator acts on, as errno name and strerror text. */
const knownErrors: readonly (readonly [code: string, text: string])[] = [
  ['ENOSPC', 'no space left on device'],
  ['EIO', 'input/output error'],
  ['EROFS', 'read-only file system'],
  ['EDQUOT', 'disk quota exceeded'],
  ['EFBIG', 'file too large'],
  ['EACCES', 'permission denied'],
  ['EPERM', 'operation not permitted'],
  ['EMFILE', 'too many open files'],
  ['ENOENT', 'no such file or directory'],
];

const errnoName = /^E[A-Z0-9]+$/;

/**
 * "CODE: text" for the first error in `err`'s cause chain that names a system error, by its
 * errno `code` or by LevelDB's strerror text; null when none does.
 */
export function systemErrorOf(err: unknown): string | null {
  for (let e: unknown = err, depth = 0; e !== null && e !== undefined && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && errnoName.test(code)) {
      const text = knownErrors.find(([c]) => c === code)?.[1];
      return text === undefined ? code : `${code}: ${text}`;
    }
    const message = String((e as { message?: unknown }).message ?? '').toLowerCase();
    const known = knownErrors.find(([, text]) => message.endsWith(`: ${text}`));
    if (known !== undefined) return `${known[0]}: ${known[1]}`;
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

/**
 * How a failure of a store reads: its system error when one is behind it, else the store's own
 * message; null when `err` did not come from a store (a bug elsewhere, say).
 */
export function describeStoreFailure(err: unknown): string | null {
  const system = systemErrorOf(err);
  if (system !== null) return system;
  const fromStore =
    err instanceof StoreFailedError ||
    err instanceof StoreCorruptError ||
    err instanceof StoreClosedError ||
    err instanceof InvalidWriteError ||
    /^LEVEL_/.test(String((err as { code?: unknown } | null)?.code));
  return fromStore ? (err as Error).message : null;
}
