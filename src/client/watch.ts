/**
 * `RaftKV.watch(prefix, {cursor})` (README "Watching changes"): the changes under a prefix as an
 * async iterator. It follows one node's Server-Sent Events stream and, when that stream ends (the
 * node stopped, restarted, or ended a slow reader), reconnects through the next endpoint with the
 * last cursor it saw, so the changes continue with none lost and none repeated. A refusal (a bad
 * or foreign cursor: 400; a cursor older than the history kept: 410 compacted) ends the iteration
 * with a RaftKVError.
 */

import type { Agent, Dispatcher } from 'undici';
import { request } from 'undici';
import { type ErrorBody, isErrorCode, SseParser } from '../protocol/index.js';
import { RaftKVError } from './errors.js';

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** A put's value; null for a delete. */
  readonly value: Uint8Array | null;
  /** The write's version (its log index). */
  readonly version: string;
  readonly shard: number;
  readonly index: number;
  /** Where this event leaves the watch: pass it as `cursor` to resume after it. */
  readonly cursor: string;
}

export interface WatchOptions {
  /** Resume after this cursor (an event's `cursor`); by default the watch starts now. */
  readonly cursor?: string;
  readonly signal?: AbortSignal;
}

/** How long the watch waits before reconnecting once every endpoint failed in a row. */
const reconnectPauseMs = 250;

export async function* watchChanges(
  endpoints: () => readonly string[],
  dispatcher: Agent,
  auth: Record<string, string>,
  prefix: string,
  o: WatchOptions,
): AsyncGenerator<WatchEvent, void, undefined> {
  let cursor = o.cursor ?? null;
  let turn = 0;
  let failures = 0;
  while (!o.signal?.aborted) {
    const list = endpoints();
    const endpoint = list[turn++ % list.length]!;
    const queue: WatchEvent[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    const parser = new SseParser((e) => {
      if (e.id !== null) cursor = e.id;
      if (e.event === 'put' || e.event === 'delete') {
        const d = JSON.parse(e.data) as {
          key: string;
          value?: string;
          version: string;
          shard: number;
          index: number;
        };
        queue.push({
          type: e.event,
          key: d.key,
          value: d.value === undefined ? null : new Uint8Array(Buffer.from(d.value, 'base64')),
          version: d.version,
          shard: d.shard,
          index: d.index,
          cursor: e.id ?? '',
        });
      }
      wake?.();
    });
    let res: Dispatcher.ResponseData;
    try {
      const params = new URLSearchParams({ prefix });
      res = await request(new URL(`/v1/watch?${params}`, endpoint), {
        headers: { ...auth, ...(cursor === null ? {} : { 'last-event-id': cursor }) },
        dispatcher,
        bodyTimeout: 0,
        ...(o.signal === undefined ? {} : { signal: o.signal }),
      });
    } catch {
      if (o.signal?.aborted) return;
      if (++failures >= list.length) await new Promise((resolve) => setTimeout(resolve, reconnectPauseMs));
      continue;
    }
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      let body: ErrorBody | null = null;
      try {
        body = JSON.parse(text) as ErrorBody;
      } catch {}
      const code = body?.error?.code;
      // A refusal is the same on every node; unavailability may not be.
      if (res.statusCode < 500 && isErrorCode(code))
        throw new RaftKVError(code, res.statusCode, body!.error.message, false);
      if (++failures >= list.length) await new Promise((resolve) => setTimeout(resolve, reconnectPauseMs));
      continue;
    }
    failures = 0;
    res.body.setEncoding('utf8');
    res.body.on('data', (chunk: string) => parser.push(chunk));
    res.body.on('error', () => undefined);
    res.body.on('close', () => {
      done = true;
      wake?.();
    });
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (done) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
      }
    } finally {
      res.body.destroy();
    }
  }
}
