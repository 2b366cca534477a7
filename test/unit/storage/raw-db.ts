/**
 * The LevelDB under a closed LevelStore, opened raw, for tests that write damage into it.
 */

import { Level } from 'level';

export type RawDb = Level<Buffer, Buffer>;

/** Opens the database in `dir`, runs `fn` on it and closes it again. */
export async function withRawDb(dir: string, fn: (db: RawDb) => Promise<unknown>): Promise<void> {
  const db: RawDb = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}
