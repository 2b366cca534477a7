/**
 * A watch cursor (README "Watching changes"): a position in every shard, the applied index up to
 * which a watcher has seen each shard's changes, tagged with its cluster. It is what an event's
 * `id:` carries and what `Last-Event-ID` (or `?cursor=`) gives back, so a watcher resumes after
 * the last event it saw through whichever node it reconnects to: log indexes are the same on
 * every replica of a shard.
 *
 * Text form: `<cluster tag>.<index of shard 0>.<index of shard 1>…`, the tag eight hex digits
 * derived from the cluster id, the indexes in base 36.
 */

import { createHash } from 'node:crypto';

/** Eight hex digits naming the cluster a cursor belongs to. */
export function clusterTag(clusterId: string): string {
  return createHash('sha256').update(`raftkv-watch:${clusterId}`).digest('hex').slice(0, 8);
}

export function encodeCursor(clusterId: string, indexes: readonly number[]): string {
  return [clusterTag(clusterId), ...indexes.map((i) => i.toString(36))].join('.');
}

/** The indexes of `text`, or why it is not a cursor of this cluster with `shards` shards. */
export function decodeCursor(
  text: string,
  clusterId: string,
  shards: number,
): { readonly ok: true; readonly indexes: number[] } | { readonly ok: false; readonly problem: string } {
  const parts = text.split('.');
  if (parts.length < 2 || !/^[0-9a-f]{8}$/.test(parts[0]!) || parts.length > 1 + 1024)
    return { ok: false, problem: 'the cursor does not parse' };
  if (parts[0] !== clusterTag(clusterId))
    return { ok: false, problem: 'the cursor belongs to another cluster' };
  if (parts.length - 1 !== shards)
    return { ok: false, problem: `the cursor names ${parts.length - 1} shards, this cluster has ${shards}` };
  const indexes: number[] = [];
  for (const p of parts.slice(1)) {
    const n = /^[0-9a-z]{1,11}$/.test(p) ? Number.parseInt(p, 36) : Number.NaN;
    if (!Number.isSafeInteger(n)) return { ok: false, problem: 'the cursor does not parse' };
    indexes.push(n);
  }
  return { ok: true, indexes };
}
