/**
 * `raftkv status`: the cluster view (GET /v1/ui/state, the same one the dashboard shows) from the
 * first endpoint that answers, printed as tables of nodes, shards with their replicas, and recent
 * leader changes; `--watch` redraws it every second until Ctrl-C; `--json` prints the view.
 */

import { request } from 'undici';
import type { ClusterView, LeaderChangeView, ShardView } from '../api/cluster-view.js';
import { agentFor, authHeaders } from '../client/connect.js';
import type { Connection } from './connection.js';

const fetchTimeoutMs = 3_000;
const changesShown = 8;

/** The view from the first endpoint that answers; throws with every endpoint's reason otherwise. */
export async function fetchClusterView(c: Connection): Promise<ClusterView> {
  const reasons: string[] = [];
  const dispatcher = agentFor(c);
  try {
    for (const endpoint of c.endpoints) {
      const view = await fetchFrom(endpoint, c, dispatcher, reasons);
      if (view !== null) return view;
    }
  } finally {
    await dispatcher.close();
  }
  throw new Error(`no node answered (${reasons.join('; ')})`);
}

async function fetchFrom(
  endpoint: string,
  c: Connection,
  dispatcher: ReturnType<typeof agentFor>,
  reasons: string[],
): Promise<ClusterView | null> {
  try {
    const res = await request(new URL('/v1/ui/state', endpoint), {
      dispatcher,
      headers: authHeaders(c),
      headersTimeout: fetchTimeoutMs,
      bodyTimeout: fetchTimeoutMs,
      signal: AbortSignal.timeout(fetchTimeoutMs),
    });
    if (res.statusCode === 200) return (await res.body.json()) as ClusterView;
    const text = await res.body.text();
    reasons.push(`${endpoint}: status ${res.statusCode}${errorMessage(text)}`);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    reasons.push(`${endpoint}: ${e.code ?? e.message ?? 'error'}`);
  }
  return null;
}

/** " (message)" of an README's API error body, or nothing. */
function errorMessage(body: string): string {
  try {
    const m = (JSON.parse(body) as { error?: { message?: unknown } }).error?.message;
    return typeof m === 'string' ? ` (${m})` : '';
  } catch {
    return '';
  }
}

/** Left-aligned columns, two spaces apart. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const dash = (v: number | string | null | undefined) => (v === null || v === undefined ? '-' : String(v));

function clock(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function rate(r: number): string {
  return r >= 100 ? String(Math.round(r)) : r.toFixed(1);
}

function shardRows(s: ShardView): string[][] {
  return s.replicas.map((r, i) => [
    i === 0 ? String(s.shard) : '',
    i === 0 ? (s.leader ?? 'NONE') : '',
    i === 0 ? dash(s.term) : '',
    i === 0 ? rate(s.writesPerSec) : '',
    i === 0 ? rate(s.readsPerSec) : '',
    r.node,
    r.learner && r.role !== 'down' ? 'learner' : r.role === 'preCandidate' ? 'pre-candidate' : r.role,
    dash(r.term),
    dash(r.commit),
    dash(r.applied),
    dash(r.lastIndex),
    r.role === 'leader' ? '-' : dash(r.lag),
  ]);
}

export function describeChange(c: LeaderChangeView): string {
  const change = c.from === null ? `elected ${c.to}` : `${c.from} -> ${c.to}`;
  const kind =
    c.kind === 'initial'
      ? 'elected'
      : c.kind === 'failover'
        ? `failover (${c.detection ?? 'election timeout'})`
        : c.kind;
  const window =
    c.window === 'measured'
      ? `unavailable ${c.windowMs} ms`
      : c.window === 'open'
        ? 'no write since (measuring)'
        : c.kind === 'initial'
          ? ''
          : 'no writes in flight';
  return `${clock(c.electedAtMs)}  shard ${c.shard}  ${change}  term ${c.term}  ${kind}${window ? `  ${window}` : ''}  (seen by ${c.observer})`;
}

/** The view as text, for people. */
export function formatClusterView(v: ClusterView): string {
  const up = v.nodes.filter((n) => n.up).length;
  const out: string[] = [
    `cluster ${v.clusterId} · ${v.nodes.length} nodes (${up} up) · ${v.shards.length} shards · via ${v.servedBy} at ${clock(v.atMs)}`,
    '',
    table([
      ['NODE', 'STATE', 'PID', 'API', 'LEADS'],
      ...v.nodes.map((n) => [
        n.id,
        n.up ? 'up' : 'DOWN',
        dash(n.pid),
        n.api,
        n.up ? (n.leads.length === 0 ? '-' : n.leads.map((s) => `shard ${s}`).join(', ')) : `(${n.error})`,
      ]),
    ]),
    '',
    table([
      [
        'SHARD',
        'LEADER',
        'TERM',
        'WRITES/S',
        'READS/S',
        'REPLICA',
        'ROLE',
        'TERM',
        'COMMIT',
        'APPLIED',
        'LAST',
        'LAG',
      ],
      ...v.shards.flatMap(shardRows),
    ]),
  ];
  const changes = v.leaderChanges.filter((c) => c.kind !== 'initial').slice(0, changesShown);
  if (changes.length > 0) {
    out.push('', 'recent leader changes (newest first):', ...changes.map((c) => `  ${describeChange(c)}`));
  }
  return `${out.join('\n')}\n`;
}

/** One status, or (watch) one every second until SIGINT/SIGTERM. Exit code 1 when no node answers once. */
export async function statusCommand(
  connection: Connection,
  o: { json?: boolean; watch?: boolean },
): Promise<void> {
  const print = (v: ClusterView) =>
    process.stdout.write(o.json === true ? `${JSON.stringify(v)}\n` : formatClusterView(v));
  if (o.watch !== true) {
    try {
      print(await fetchClusterView(connection));
    } catch (err) {
      process.stderr.write(`raftkv: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
    return;
  }
  let stopped = false;
  let wake: () => void = () => {};
  const stop = () => {
    stopped = true;
    wake();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const clear = process.stdout.isTTY === true && o.json !== true;
  while (!stopped) {
    let text: string;
    try {
      const v = await fetchClusterView(connection);
      text = o.json === true ? `${JSON.stringify(v)}\n` : formatClusterView(v);
    } catch (err) {
      text = `raftkv: ${(err as Error).message} (retrying)\n`;
    }
    if (stopped) break;
    if (clear) process.stdout.write('\x1b[H\x1b[2J');
    process.stdout.write(clear ? `${text}\n(refreshing every second; Ctrl-C to stop)\n` : `${text}\n`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1_000);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
