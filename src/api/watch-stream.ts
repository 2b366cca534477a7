/**
 * One watcher's feed (README "Watching changes"): the changes under a prefix from every shard,
 * as Server-Sent Events, merged from each shard's source:
 * - a shard with a replica on this node: its change history (node/change-history.ts), replayed
 *   from the watcher's cursor and then followed as the replica applies entries;
 * - any other shard: the same route on a node that hosts it, restricted to that shard, relayed.
 * Each event's `id` is the cursor just after it. Events of one shard come in log order, so the
 * events of one key come in commit order, once each; a resume from a cursor replays exactly what
 * came after it. Every second a `progress` event moves the cursor to what each shard has applied.
 * A watcher whose unread output passes `watchBufferBytesMax` is ended with `too_slow`.
 */

import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import type { ChangeHistory, Recorded } from '../node/change-history.js';
import { KVError, type RaftKVNode } from '../node/index.js';
import {
  decodeCursor,
  encodeCursor,
  errorStatuses,
  formatSse,
  type ShardPosition,
  SseParser,
} from '../protocol/index.js';
import type { ClusterAuth } from './cluster-auth.js';
import type { OutboundTls } from './forward.js';

/** Unread bytes a watcher may have before it is ended with `too_slow`. */
export const watchBufferBytesMax = 4 * 1024 * 1024;
/** How often a watcher gets a progress event. */
export const watchProgressMs = 1_000;

/** The 410 of a cursor at index `at` of `shard`, where the replica keeps only what came after `floor`. */
export const compacted = (shard: number, at: number, floor: number) =>
  new KVError(
    'compacted',
    errorStatuses.compacted,
    `the cursor is at index ${at} of shard ${shard}, older than the changes it keeps (after index ${floor}): read the current state and watch from there`,
  );

export interface WatchDeps {
  readonly node: RaftKVNode;
  readonly clusterAuth: ClusterAuth;
  readonly outboundTls?: OutboundTls | undefined;
  readonly log: Logger;
}

export interface WatchRequest {
  readonly prefix: string;
  /** Per shard, the position after which to start; null: from what the source has applied now. */
  readonly after: readonly (ShardPosition | null)[];
  /** The shards to serve (all, unless another node relays one of them). */
  readonly shards: readonly number[];
  readonly authorization: string | undefined;
}

/** What a shard source delivers into a feed. */
interface Sink {
  /** `more`: how many more changes of the same entry follow (0: the entry is complete). */
  change(
    shard: number,
    c: { type: string; key: string; value: string | null; index: number; more: number },
  ): void;
  /** The source has delivered every change of `shard` up to `index`. */
  progress(shard: number, index: number): void;
  /** The source failed: the feed ends (the watcher resumes elsewhere from its cursor). */
  failed(shard: number, why: string, code?: string): void;
}

/** A source of one shard's changes; start() throws KVError (e.g. compacted) before any output. */
interface ShardSource {
  start(sink: Sink): Promise<void>;
  /** Moves progress to what the source has applied (local sources; relays report their own). */
  tick(sink: Sink): void;
  close(): void;
}

function localSource(
  shard: number,
  history: ChangeHistory,
  applied: () => number,
  after: ShardPosition | null,
): ShardSource {
  let unsubscribe: (() => void) | null = null;
  const send = (sink: Sink, c: Recorded) =>
    sink.change(shard, {
      type: c.type,
      key: c.key,
      value: c.value === null ? null : Buffer.from(c.value).toString('base64'),
      index: c.index,
      more: c.more ?? 0,
    });
  return {
    async start(sink) {
      const from = after?.index ?? applied();
      const past = history.since(from, after?.seen ?? null);
      if (past === 'compacted') throw compacted(shard, from, history.floor);
      // Replay and follow in one step: nothing applied in between is missed or sent twice.
      for (const c of past) send(sink, c);
      unsubscribe = history.subscribe(
        (c) => send(sink, c),
        (why) => sink.failed(shard, `${why}: shard ${shard}'s changes continue through another node`),
      );
      sink.progress(shard, Math.max(from, applied()));
    },
    tick(sink) {
      sink.progress(shard, applied());
    },
    close() {
      unsubscribe?.();
    },
  };
}

function relaySource(
  deps: WatchDeps,
  dispatcher: () => Agent,
  shard: number,
  req: WatchRequest,
): ShardSource {
  const abort = new AbortController();
  return {
    async start(sink) {
      const route = deps.node.route(shard);
      if (route.kind !== 'remote')
        throw new KVError(
          'unavailable',
          errorStatuses.unavailable,
          `no node of shard ${shard} is known to relay from`,
        );
      const after = req.after[shard] ?? null;
      const from =
        after === null ? '' : `&after=${after.index}${after.seen === null ? '' : `&seen=${after.seen}`}`;
      const path = `/v1/watch?prefix=${encodeURIComponent(req.prefix)}&shard=${shard}${from}`;
      const res = await request(new URL(path, route.api), {
        headers: {
          ...(req.authorization === undefined ? {} : { authorization: req.authorization }),
          ...deps.clusterAuth.headers('GET', path),
        },
        dispatcher: dispatcher(),
        signal: abort.signal,
        headersTimeout: deps.node.config.requestTimeoutMs,
        bodyTimeout: 0,
      });
      if (res.statusCode !== 200) {
        const body = (await res.body.text()).slice(0, 300);
        let err: { code?: string; message?: string } = {};
        try {
          err = (JSON.parse(body) as { error?: typeof err }).error ?? {};
        } catch {}
        if (err.code === 'compacted')
          throw new KVError('compacted', errorStatuses.compacted, err.message ?? body);
        throw new KVError(
          'unavailable',
          errorStatuses.unavailable,
          `node ${route.node} did not relay shard ${shard}: ${err.message ?? body}`,
        );
      }
      /** Where an event's cursor (its `id`) leaves the relayed shard, or null without one. */
      const positionOf = (id: string | null): ShardPosition | null => {
        const d = id === null ? null : decodeCursor(id, deps.node.config.clusterId, deps.node.config.shards);
        return d?.ok === true ? d.positions[shard]! : null;
      };
      let started: () => void = () => {};
      const first = new Promise<void>((resolve) => {
        started = resolve;
      });
      const parser = new SseParser((e) => {
        if (e.event === 'put' || e.event === 'delete') {
          const d = JSON.parse(e.data) as { key: string; value?: string; index: number };
          // Its cursor says whether the entry has more changes to come (index~seen) or not.
          const more = (positionOf(e.id)?.seen ?? null) === null ? 0 : 1;
          sink.change(shard, { type: e.event, key: d.key, value: d.value ?? null, index: d.index, more });
        } else if (e.event === 'progress') {
          // Every change up to the cursor's index (its last one, if inside an entry: the one before).
          const p = positionOf(e.id);
          if (p !== null) sink.progress(shard, p.seen === null ? p.index : p.index - 1);
          started();
        } else if (e.event === 'error') {
          sink.failed(
            shard,
            `node ${route.node} ended shard ${shard}'s feed: ${e.data}`,
            (JSON.parse(e.data) as { code?: string }).code,
          );
        }
      });
      res.body.setEncoding('utf8');
      res.body.on('data', (chunk: string) => parser.push(chunk));
      res.body.on('error', () => undefined);
      res.body.on('close', () => {
        started();
        sink.failed(shard, `node ${route.node} stopped relaying shard ${shard}`);
      });
      // Its first progress event says where it starts: the watcher's cursor needs that index.
      await first;
    },
    tick() {},
    close() {
      abort.abort();
    },
  };
}

interface Feed {
  tick(): void;
  /** Ends the feed with `event: error` and this code (the watcher resumes elsewhere). */
  close(code: string, why: string): void;
}

/** All watchers of this node, for the one progress timer and for closing them all at stop. */
const feeds = new Set<Feed>();
let progressTimer: NodeJS.Timeout | null = null;

/** Ends every watch of this node (it is stopping): each watcher resumes through another node. */
export function endAllWatches(): void {
  for (const f of [...feeds]) f.close('unavailable', 'this node is stopping');
}

function track(feed: Feed): () => void {
  feeds.add(feed);
  progressTimer ??= setInterval(() => {
    for (const f of feeds) f.tick();
  }, watchProgressMs);
  progressTimer.unref();
  return () => {
    feeds.delete(feed);
    if (feeds.size === 0 && progressTimer !== null) {
      clearInterval(progressTimer);
      progressTimer = null;
    }
  };
}

/**
 * Opens every shard's source of one watch (so a compacted cursor or an unreachable shard is a
 * plain error answer, thrown here), and returns how to serve the stream on a response: it is
 * written until the watcher leaves.
 */
export async function openWatch(deps: WatchDeps, req: WatchRequest): Promise<(res: ServerResponse) => void> {
  const { clusterId } = deps.node.config;
  // Only a watch that relays a shard needs connections of its own.
  const relays: { agent: Agent | null } = { agent: null };
  const dispatcher = () => {
    relays.agent ??= new Agent({ connect: { ...deps.outboundTls } });
    return relays.agent;
  };
  const sources = req.shards.map((shard) => {
    const local = deps.node.changesOf(shard);
    const after = req.after[shard] ?? null;
    return local === null
      ? relaySource(deps, dispatcher, shard, req)
      : localSource(shard, local.history, local.applied, after);
  });
  const position: ShardPosition[] = req.after.map((p) => p ?? { index: 0, seen: null });
  let open = false;
  let ended = false;
  const pending: string[] = [];
  let res: ServerResponse | null = null;
  const write = (text: string) => {
    if (ended) return;
    if (!open || res === null) {
      pending.push(text);
      return;
    }
    const out = res;
    out.write(text);
    if (out.writableLength > watchBufferBytesMax) {
      out.write(formatSse({ event: 'error', id: null, data: JSON.stringify({ code: 'too_slow' }) }));
      end();
      // A reader that never reads would hold the socket: it goes after a grace period.
      setTimeout(() => out.destroy(), 10_000).unref();
    }
  };
  const cursor = () => encodeCursor(clusterId, position);
  const sink: Sink = {
    change(shard, c) {
      // An entry may make several changes (a lease revoke): the position counts them.
      const p = position[shard]!;
      if (c.index < p.index || (c.index === p.index && p.seen === null)) return;
      const seen = c.index === p.index ? p.seen! + 1 : 1;
      position[shard] = { index: c.index, seen: c.more === 0 ? null : seen };
      if (!c.key.startsWith(req.prefix)) return;
      const data = {
        key: c.key,
        ...(c.value === null ? {} : { value: c.value }),
        version: String(c.index),
        shard,
        index: c.index,
      };
      write(formatSse({ event: c.type, id: cursor(), data: JSON.stringify(data) }));
    },
    progress(shard, index) {
      // Every change of an applied entry was delivered as it was applied.
      if (index >= position[shard]!.index) position[shard] = { index, seen: null };
    },
    failed(_shard, why, code) {
      deps.log.info({ why }, 'watch: a shard source ended; the watcher resumes elsewhere');
      write(
        formatSse({
          event: 'error',
          id: null,
          data: JSON.stringify({ code: code ?? 'unavailable', message: why }),
        }),
      );
      end();
    },
  };
  let untrack = () => {};
  const end = () => {
    if (ended) return;
    ended = true;
    untrack();
    for (const s of sources) s.close();
    void relays.agent?.close().catch(() => undefined);
    res?.end();
  };
  try {
    for (const s of sources) await s.start(sink);
  } catch (err) {
    ended = true;
    for (const s of sources) s.close();
    void relays.agent?.close().catch(() => undefined);
    throw err;
  }
  return (out) => {
    res = out;
    out.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    open = true;
    out.write('retry: 1000\n\n');
    for (const text of pending.splice(0)) write(text);
    write(formatSse({ event: 'progress', id: cursor(), data: '' }));
    out.on('close', end);
    if (ended) {
      // A source failed before the answer began: the watcher resumes elsewhere.
      out.end();
      return;
    }
    untrack = track({
      tick() {
        for (const s of sources) s.tick(sink);
        write(formatSse({ event: 'progress', id: cursor(), data: '' }));
      },
      close(code, why) {
        write(formatSse({ event: 'error', id: null, data: JSON.stringify({ code, message: why }) }));
        end();
      },
    });
  };
}
