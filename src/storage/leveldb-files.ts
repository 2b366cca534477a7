/**
 * LevelDB's own files, seen from outside: checks a directory before LevelDB opens it, and turns
 * LevelDB's reports of damage into StoreCorruptError. LevelDB, as `level` opens it, repairs
 * quietly where a Raft store must refuse: it starts an empty database when CURRENT is missing
 * (and deletes the tables it no longer knows), and drops damaged write-ahead log records.
 */

import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { findLogDamage } from './leveldb-log.js';
import { StoreCorruptError } from './store-errors.js';

/** Files LevelDB keeps data in; a directory holding any of them is an existing database. */
const dataFile = /^(MANIFEST-\d+|\d+\.(log|ldb|sst))$/;
const logFile = /^\d+\.log$/;
/** The manifest LevelDB writes when it creates a database, before CURRENT and before any log. */
const firstManifest = 'MANIFEST-000001';

/**
 * Rejects with StoreCorruptError when LevelDB would open `dir` by losing data: its data files
 * without CURRENT, or a write-ahead log with a damaged record. A missing or empty directory
 * passes (a new store).
 */
export async function checkLevelDbFiles(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const data = names.filter((n) => dataFile.test(n));
  // No data files, or only the first manifest of a creation cut short: nothing can be lost.
  if (data.length === 0 || (data.length === 1 && data[0] === firstManifest)) return;
  if (!names.includes('CURRENT')) {
    throw corruptFiles(
      `CURRENT is missing next to ${data.sort().join(', ')} (LevelDB would start an empty database over them)`,
    );
  }
  for (const name of names.filter((n) => logFile.test(n)).sort()) {
    const damage = findLogDamage(await readFile(join(dir, name)));
    if (damage !== null) {
      throw corruptFiles(
        `write-ahead log ${name} is damaged at byte ${damage.offset} (${damage.reason}; LevelDB would drop what follows)`,
      );
    }
  }
}

/**
 * The StoreCorruptError for an error of `level` that reports damaged files, or null for any
 * other error: LevelDB's corruption status (on open, wrapped in LEVEL_DATABASE_NOT_OPEN, or on a
 * read), and a read past the end of a table, which is how LevelDB finds a truncated one.
 */
export function levelDbCorruption(err: unknown): StoreCorruptError | null {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const reported = e?.code === 'LEVEL_DATABASE_NOT_OPEN' ? e.cause : e;
  if (reported?.code === 'LEVEL_CORRUPTION')
    return corruptFiles(`LevelDB reports ${String(reported.message)}`);
  if (reported?.code === 'LEVEL_IO_ERROR') {
    const message = String(reported.message);
    const table = /^IO error: (.+\.(ldb|sst)): Invalid argument$/.exec(message);
    if (table !== null) {
      return corruptFiles(`table ${basename(table[1]!)} is shorter than LevelDB recorded (${message})`);
    }
  }
  return null;
}

function corruptFiles(reason: string): StoreCorruptError {
  return new StoreCorruptError(null, 'files', null, reason);
}
