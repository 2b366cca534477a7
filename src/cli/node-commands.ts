/**
 * `raftkv node add | remove | list` (README "Growing and shrinking the cluster"): the node routes
 * of the API, through whichever endpoint answers. `remove` drains: it follows the node's replicas
 * as the rebalancer moves them away and prints each change until the node is gone (`--no-wait`
 * returns at once). Exit 0 done, 1 refused or failed.
 */

import { request } from 'undici';
import { agentFor, authHeaders } from '../client/connect.js';
import type { Connection } from './connection.js';
import { exitCodes } from './exit-codes.js';

const requestTimeoutMs = 30_000;
/** How often `node remove` looks at the drain's progress. */
export const drainPollMs = 1_000;

interface NodeRow {
  readonly id: string;
  readonly api: string;
  readonly state: string;
  readonly up: boolean | null;
  readonly replicas: number;
  readonly leaders: number;
}
interface NodeList {
  readonly epoch: number;
  readonly nodes: readonly NodeRow[];
  readonly moving: readonly (number | string)[];
}

class Refused extends Error {}

/** Sends one request to the first endpoint that answers; a 4xx/5xx answer is Refused with its message. */
async function call(
  c: Connection,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const dispatcher = agentFor({ ca: c.ca });
  const reasons: string[] = [];
  try {
    for (const endpoint of c.endpoints) {
      try {
        const res = await request(new URL(path, endpoint), {
          method: method as 'GET',
          headers: {
            ...authHeaders({ token: c.token }),
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          headersTimeout: requestTimeoutMs,
          bodyTimeout: requestTimeoutMs,
          ...(dispatcher === undefined ? {} : { dispatcher }),
        });
        const text = await res.body.text();
        const json = text === '' ? null : (JSON.parse(text) as unknown);
        if (res.statusCode >= 400) {
          const e = (json as { error?: { code?: string; message?: string } } | null)?.error;
          if (res.statusCode === 503) {
            reasons.push(`${endpoint}: ${e?.message ?? res.statusCode}`);
            continue;
          }
          throw new Refused(`${e?.code ?? 'error'} (${res.statusCode}): ${e?.message ?? text.slice(0, 200)}`);
        }
        return { status: res.statusCode, json };
      } catch (err) {
        if (err instanceof Refused) throw err;
        reasons.push(`${endpoint}: ${(err as { code?: string }).code ?? (err as Error).message}`);
      }
    }
  } finally {
    await dispatcher?.close();
  }
  throw new Refused(`no node could serve the request (${reasons.join('; ')})`);
}

async function run(op: () => Promise<void>): Promise<void> {
  try {
    await op();
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    process.stderr.write(`raftkv: ${err.message}\n`);
    process.exitCode = exitCodes.failed;
  }
}

function table(list: NodeList): string {
  const rows = [['node', 'state', 'up', 'replicas', 'leaders', 'api']].concat(
    list.nodes.map((n) => [
      n.id,
      n.state,
      n.up === null ? '?' : n.up ? 'yes' : 'no',
      String(n.replicas),
      String(n.leaders),
      n.api,
    ]),
  );
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  const moving = list.moving.length === 0 ? 'none' : list.moving.join(', ');
  return `${lines.join('\n')}\nepoch ${list.epoch} · moving: ${moving}\n`;
}

export async function nodeList(c: Connection, o: { json?: boolean }): Promise<void> {
  await run(async () => {
    const { json } = await call(c, 'GET', '/v1/admin/nodes');
    process.stdout.write(o.json === true ? `${JSON.stringify(json)}\n` : table(json as NodeList));
  });
}

export async function nodeAdd(
  c: Connection,
  id: string,
  o: { api: string; peer: string; json?: boolean },
): Promise<void> {
  await run(async () => {
    const { json } = await call(c, 'POST', '/v1/admin/nodes', { id, api: o.api, peer: o.peer });
    const { epoch } = json as { epoch: number };
    process.stdout.write(
      o.json === true
        ? `${JSON.stringify(json)}\n`
        : `node ${id} added (joining, epoch ${epoch}); start it with: serve --join <member api URL> --id ${id} --api ${o.api} --peer ${o.peer} --data DIR\n`,
    );
  });
}

export async function nodeRemove(
  c: Connection,
  id: string,
  o: { force?: boolean; wait?: boolean; json?: boolean },
): Promise<void> {
  await run(async () => {
    const path = `/v1/admin/nodes/${encodeURIComponent(id)}${o.force === true ? '?force=true' : ''}`;
    const { json } = await call(c, 'DELETE', path);
    const { state, epoch } = json as { state: string; epoch: number };
    if (o.json === true) process.stdout.write(`${JSON.stringify(json)}\n`);
    else process.stdout.write(`node ${id}: ${state} (epoch ${epoch})\n`);
    if (state !== 'leaving' || o.wait === false) return;
    // Follow the drain until the node is out of the table.
    let last = '';
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, drainPollMs));
      const list = (await call(c, 'GET', '/v1/admin/nodes')).json as NodeList;
      const n = list.nodes.find((x) => x.id === id);
      if (n === undefined) {
        process.stdout.write(`node ${id} removed (epoch ${list.epoch}); it can be stopped\n`);
        return;
      }
      const line = `node ${id}: ${n.replicas} replica(s), ${n.leaders} preferred leadership(s) left; moving: ${list.moving.join(', ') || 'none'}`;
      if (line !== last && o.json !== true) process.stdout.write(`${line}\n`);
      last = line;
    }
  });
}
