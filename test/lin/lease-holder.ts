/**
 * A lease holder for a fault round, run as its own process so that the round can SIGSTOP it (its
 * keepalives stop with it) and stop it by its PID:
 *
 *   node --import tsx test/lin/lease-holder.ts --name live --endpoints http://a:7001,http://b:7001
 *     --ttl-ms 20000 --keys lease/live/k0,lease/live/k1 [--client dist-copy/client/index.js]
 *
 * Through the client library it takes `kv.lease(ttlMs)` (which renews itself every ttl/3; asked
 * again until `--grant-within-ms`, as the nodes may still be starting), puts
 * each key under it (the value names the holder, the key and this process), then keeps it alive
 * until SIGTERM, when it stops renewing without revoking (the round ends the cluster anyway) and
 * exits 0. It prints one JSON line per event on stdout, each with `t`, Date.now() when it happened:
 *
 *   {"event":"granted","lease":ID,"ttlMs":N,"call":T,"ret":T}   call: before the grant was sent
 *   {"event":"put","key":K,"value":V,"version":X,"call":T,"ret":T}
 *   {"event":"ready"}                                            every key was put
 *   {"event":"keepalive","sentAt":T,"ok":true|false,"code":C,"message":M}   each renewal the Lease sent
 *   {"event":"lost","code":C,"message":M}                        when `lease.lost` settled
 *   {"event":"error","stage":S,"message":M}                      the grant or a put failed (exit 1)
 *   {"event":"closed"}                                           after SIGTERM
 *
 * `keepalive` lines come from wrapping the client's `keepAlive`, which the Lease calls: the round
 * needs the send time of the last renewal that succeeded (no replica may expire the lease before
 * that time + ttl). `--client` loads the client library from the round's private copy of the build
 * (the nodes run that copy too); without it, from src/.
 */

import { parseArgs } from 'node:util';
import type * as ClientModule from '../../src/client/index.js';

export type HolderEvent =
  | {
      readonly event: 'granted';
      readonly lease: string;
      readonly ttlMs: number;
      readonly call: number;
      readonly ret: number;
      readonly t: number;
    }
  | {
      readonly event: 'put';
      readonly key: string;
      readonly value: string;
      readonly version: string;
      readonly call: number;
      readonly ret: number;
      readonly t: number;
    }
  | { readonly event: 'ready'; readonly t: number }
  | {
      readonly event: 'keepalive';
      readonly sentAt: number;
      readonly ok: boolean;
      readonly code?: string;
      readonly message?: string;
      readonly t: number;
    }
  | { readonly event: 'lost'; readonly code: string; readonly message: string; readonly t: number }
  | { readonly event: 'error'; readonly stage: string; readonly message: string; readonly t: number }
  | { readonly event: 'closed'; readonly t: number };

type Omitted<E> = E extends unknown ? Omit<E, 't'> : never;

function emit(e: Omitted<HolderEvent>): void {
  // Pipes are written synchronously on Linux: a line printed before a SIGSTOP is out.
  process.stdout.write(`${JSON.stringify({ ...e, t: Date.now() })}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      name: { type: 'string', default: 'holder' },
      endpoints: { type: 'string' },
      'ttl-ms': { type: 'string' },
      keys: { type: 'string' },
      client: { type: 'string' },
      'attempt-timeout-ms': { type: 'string', default: '2000' },
      'operation-timeout-ms': { type: 'string', default: '10000' },
      'grant-within-ms': { type: 'string', default: '30000' },
    },
    strict: true,
  });
  if (values.endpoints === undefined || values['ttl-ms'] === undefined || values.keys === undefined)
    throw new Error(
      'usage: lease-holder.ts --endpoints URL,URL --ttl-ms N --keys K,K [--name N] [--client FILE]',
    );
  const endpoints = values.endpoints.split(',').filter((e) => e !== '');
  const ttlMs = Number(values['ttl-ms']);
  const keys = values.keys.split(',').filter((k) => k !== '');
  const client: typeof ClientModule =
    values.client === undefined
      ? await import('../../src/client/index.js')
      : ((await import(values.client)) as typeof ClientModule);
  const kv = new client.RaftKV({
    endpoints,
    attemptTimeoutMs: Number(values['attempt-timeout-ms']),
    operationTimeoutMs: Number(values['operation-timeout-ms']),
  });
  const codeOf = (err: unknown) => (err instanceof client.RaftKVError ? err.code : 'error');

  // The Lease renews through kv.keepAlive: record each renewal's send time and answer.
  const keepAlive = kv.keepAlive.bind(kv);
  kv.keepAlive = async (lease, o) => {
    const sentAt = Date.now();
    try {
      const r = await keepAlive(lease, o);
      emit({ event: 'keepalive', sentAt, ok: true });
      return r;
    } catch (err) {
      emit({
        event: 'keepalive',
        sentAt,
        ok: false,
        code: codeOf(err),
        message: (err as Error).message,
      });
      throw err;
    }
  };

  let stage = 'grant';
  try {
    // The round may start holders while its nodes start: ask again until one grants it.
    const deadline = Date.now() + Number(values['grant-within-ms']);
    let call = Date.now();
    let lease: ClientModule.Lease;
    for (;;) {
      try {
        call = Date.now();
        lease = await kv.lease(ttlMs);
        break;
      } catch (err) {
        if (Date.now() >= deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    emit({ event: 'granted', lease: lease.id, ttlMs, call, ret: Date.now() });
    void lease.lost.then((err) => emit({ event: 'lost', code: err.code, message: err.message }));
    process.once('SIGTERM', () => {
      void lease
        .close({ revoke: false })
        .finally(() => kv.close())
        .finally(() => {
          emit({ event: 'closed' });
          process.exit(0);
        });
    });
    for (const key of keys) {
      stage = `put ${key}`;
      const value = `${values.name}-${key}-${process.pid}`;
      const putCall = Date.now();
      const r = await kv.put(key, value, { lease: lease.id });
      emit({ event: 'put', key, value, version: r.version, call: putCall, ret: Date.now() });
    }
    emit({ event: 'ready' });
    // The Lease's renewal timer does not keep the process alive; this does, until SIGTERM.
    setInterval(() => {}, 1 << 30);
  } catch (err) {
    emit({ event: 'error', stage, message: `${codeOf(err)}: ${(err as Error).message}` });
    await kv.close();
    process.exit(1);
  }
}

// Only as a script (the round imports this file's types).
if (process.argv[1]?.endsWith('lease-holder.ts')) {
  main().catch((err: unknown) => {
    emit({ event: 'error', stage: 'start', message: (err as Error).message });
    process.exit(1);
  });
}
