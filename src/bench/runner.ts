/**
 * The load generator: closed loop (N clients, each sending its next request when the last one
 * answered) or open loop (requests started at a fixed rate, latency counted from when each was
 * due, so a stall is not hidden). Latencies go into an HDR histogram in microseconds.
 */

import { build, type Histogram } from 'hdr-histogram-js';
import type { Target } from './targets.js';
import { chooser, type OpKind, type Workload } from './workload.js';

export interface RunOptions {
  readonly clients: number;
  readonly durationMs: number;
  /** Operations per second for an open loop; 0 for a closed loop. */
  readonly rate: number;
  readonly stale: boolean;
  readonly seed: number;
  /** Called about once a second with the figures so far. */
  readonly onProgress?: (p: Progress) => void;
}

export interface Progress {
  readonly elapsedMs: number;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

export interface RunResult {
  readonly target: string;
  readonly clients: number;
  readonly rate: number;
  readonly durationMs: number;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly latencyMs: {
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly p999: number;
    readonly max: number;
  };
  readonly byKind: Readonly<Record<OpKind, number>>;
  readonly errors: Readonly<Record<string, number>>;
}

export async function runLoad(target: Target, w: Workload, o: RunOptions): Promise<RunResult> {
  const histogram: Histogram = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const errors: Record<string, number> = {};
  const byKind: Record<OpKind, number> = { put: 0, get: 0, cas: 0 };
  const value = new Uint8Array(w.valueBytes).fill(120);
  let ops = 0;
  let errorCount = 0;
  const started = performance.now();
  const deadline = started + o.durationMs;

  const once = async (next: () => { kind: OpKind; key: string }, dueAt: number) => {
    const { kind, key } = next();
    const outcome =
      kind === 'put'
        ? await target.put(key, value)
        : kind === 'get'
          ? await target.get(key, o.stale)
          : await target.cas(key, value);
    histogram.recordValue(Math.max(1, Math.round((performance.now() - dueAt) * 1000)));
    ops++;
    byKind[kind]++;
    if (outcome !== 'ok') {
      errorCount++;
      errors[outcome] = (errors[outcome] ?? 0) + 1;
    }
  };

  const progress = setInterval(() => {
    const elapsedMs = performance.now() - started;
    o.onProgress?.({
      elapsedMs,
      ops,
      opsPerSec: (ops * 1000) / elapsedMs,
      p50Ms: histogram.getValueAtPercentile(50) / 1000,
      p99Ms: histogram.getValueAtPercentile(99) / 1000,
      errors: errorCount,
    });
  }, 1000);

  try {
    if (o.rate > 0) {
      const next = chooser(w, o.seed);
      const intervalMs = 1000 / o.rate;
      const inflight = new Set<Promise<void>>();
      for (let i = 0; ; i++) {
        const dueAt = started + i * intervalMs;
        if (dueAt >= deadline) break;
        const wait = dueAt - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        if (inflight.size >= o.clients) await Promise.race(inflight);
        const p = once(next, dueAt).finally(() => inflight.delete(p));
        inflight.add(p);
      }
      await Promise.all(inflight);
    } else {
      await Promise.all(
        Array.from({ length: o.clients }, async (_, c) => {
          const next = chooser(w, o.seed * 1_000 + c);
          while (performance.now() < deadline) await once(next, performance.now());
        }),
      );
    }
  } finally {
    clearInterval(progress);
  }
  const durationMs = performance.now() - started;
  const at = (p: number) => histogram.getValueAtPercentile(p) / 1000;
  return {
    target: target.name,
    clients: o.clients,
    rate: o.rate,
    durationMs,
    ops,
    opsPerSec: (ops * 1000) / durationMs,
    latencyMs: { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: histogram.maxValue / 1000 },
    byKind,
    errors,
  };
}

/** The result as a table a person reads. */
export function formatResult(r: RunResult): string {
  const f = (n: number) => n.toFixed(2);
  const errors = Object.entries(r.errors);
  return [
    `target ${r.target}, ${r.clients} clients${r.rate > 0 ? `, open loop at ${r.rate}/s` : ''}, ${(r.durationMs / 1000).toFixed(1)} s`,
    `ops        ${r.ops} (put ${r.byKind.put}, get ${r.byKind.get}, cas ${r.byKind.cas})`,
    `throughput ${r.opsPerSec.toFixed(0)} ops/s`,
    `latency ms p50 ${f(r.latencyMs.p50)}  p90 ${f(r.latencyMs.p90)}  p99 ${f(r.latencyMs.p99)}  p99.9 ${f(r.latencyMs.p999)}  max ${f(r.latencyMs.max)}`,
    `errors     ${errors.length === 0 ? 'none' : errors.map(([k, v]) => `${k} ${v}`).join(', ')}`,
  ].join('\n');
}
