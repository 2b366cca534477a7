/**
 * The benchmark's independent load generator: autocannon (not this project's code), closed loop,
 * its connections spread over every given node as a client of any member would spread them (a
 * raftkv node forwards to the shard's leader, an etcd member to its leader). Each request picks
 * a key uniformly among `keys`. While it runs, the CPU that the servers' processes use is read
 * from /proc, so every run reports CPU per operation beside ops/s.
 */

import autocannon from 'autocannon';
import { cpuSince } from './proc-cpu.js';

/** One request, as a function of the key it is about. */
export interface RequestShape {
  readonly method: 'GET' | 'PUT' | 'POST';
  readonly path: (key: string) => string;
  readonly body?: (key: string) => string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface IndependentRun {
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Answers other than 2xx, connection errors and timeouts. */
  readonly errors: number;
  /** CPU seconds of all the server processes, per successful operation, in µs. */
  readonly cpuUsPerOp: number;
}

/** The value every benchmark writes: 100 bytes. */
export const benchValue = Buffer.alloc(100, 'x');

/** A raftkv PUT of `benchValue` to the key, through the HTTP API of any node. */
export const raftkvPut: RequestShape = {
  method: 'PUT',
  path: (k) => `/v1/kv/${encodeURIComponent(k)}`,
  body: () => benchValue,
  headers: { 'content-type': 'application/octet-stream' },
};

/** The key of index `i`, as the benchmarks preload them. */
export const benchKey = (i: number) => `bench/${i.toString().padStart(8, '0')}`;

/**
 * Runs `shape` against `urls` for `durationS` seconds with `connections` connections; charges
 * the CPU of `pids` (the servers) to the successful operations.
 */
export async function independentLoad(o: {
  readonly urls: readonly string[];
  readonly connections: number;
  readonly durationS: number;
  readonly keys: number;
  readonly shape: RequestShape;
  readonly pids: readonly number[];
}): Promise<IndependentRun> {
  const { shape } = o;
  const used = cpuSince(o.pids);
  const result = await autocannon({
    // autocannon spreads connections over several URLs (its types know only one).
    url: o.urls as unknown as string,
    connections: o.connections,
    duration: o.durationS,
    requests: [
      {
        method: shape.method,
        ...(shape.headers === undefined ? {} : { headers: { ...shape.headers } }),
        setupRequest: (req) => {
          const key = benchKey(Math.floor(Math.random() * o.keys));
          return {
            ...req,
            path: shape.path(key),
            ...(shape.body === undefined ? {} : { body: shape.body(key) }),
          };
        },
      },
    ],
  });
  const cpu = used().reduce((a, b) => a + b, 0);
  const ok = result['2xx'];
  return {
    opsPerSec: ok / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.non2xx + result.errors + result.timeouts,
    cpuUsPerOp: ok === 0 ? Number.NaN : (cpu * 1e6) / ok,
  };
}
