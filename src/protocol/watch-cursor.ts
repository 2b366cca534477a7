/**
 * A watch cursor (README "Watching changes"): a position in every shard, the applied index up to
 * which a watcher has seen each shard's changes, tagged with its cluster. It is what an event's
 * `id:` carries and what `Last-Event-ID` (or `?cursor=`) gives back, so a watcher resumes after
 * the last event it saw through whichever node it reconnects to: log indexes are the same on
 * every replica of a shard.
 *
 * Text form: `<cluster tag>.<position in shard 0>.<position in shard 1>…`, the tag eight hex
 * digits derived from the cluster id. A position is an index in base 36 (every change of that
 * index seen), or `index~k` when only the first k changes of an entry that made several (a
 * lease revoke deletes all its keys of the shard at one index) were seen.
 */

import { createHash } from 'node:crypto';

/** Eight hex digits naming the cluster a cursor belongs to. */
export function clusterTag(clusterId: string): string {
  return createHash('sha256').update(`raftkv-watch:${clusterId}`).digest('hex').slice(0, 8);
}

/**
 * Where a watcher is in one shard: every change up to `index` seen, except that when `seen` is
 * not null only the first `seen` changes of `index` itself were.
 */
export interface ShardPosition {
  readonly index: number;
  readonly seen: number | null;
}

export function encodeCursor(clusterId: string, positions: readonly (number | ShardPosition)[]): string {
  const text = (p: number | ShardPosition) =>
    typeof p === 'number'
      ? p.toString(36)
      : `${p.index.toString(36)}${p.seen === null ? '' : `~${p.seen.toString(36)}`}`;
  return [clusterTag(clusterId), ...positions.map(text)].join('.');
}

/** The indexes of `text`, or why it is not a cursor of this cluster with `shards` shards. */
export function decodeCursor(
  text: string,
  clusterId: string,
  shards: number,
):
  | { readonly ok: true; readonly indexes: number[]; readonly positions: ShardPosition[] }
  | { readonly ok: false; readonly problem: string } {
  const parts = text.split('.');
  if (parts.length < 2 || !/^[0-9a-f]{8}$/.test(parts[0]!) || parts.length > 1 + 1024)
    return { ok: false, problem: 'the cursor does not parse' };
  if (parts[0] !== clusterTag(clusterId))
    return { ok: false, problem: 'the cursor belongs to another cluster' };
  if (parts.length - 1 !== shards)
    return { ok: false, problem: `the cursor names ${parts.length - 1} shards, this cluster has ${shards}` };
  const positions: ShardPosition[] = [];
  for (const p of parts.slice(1)) {
    const m = /^([0-9a-z]{1,11})(?:~([0-9a-z]{1,6}))?$/.exec(p);
    const index = m === null ? Number.NaN : Number.parseInt(m[1]!, 36);
    const seen = m?.[2] === undefined ? null : Number.parseInt(m[2], 36);
    if (!Number.isSafeInteger(index) || (seen !== null && seen < 1))
      return { ok: false, problem: 'the cursor does not parse' };
    positions.push({ index, seen });
  }
  return { ok: true, indexes: positions.map((p) => p.index), positions };
}
