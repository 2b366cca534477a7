/**
 * The key commands of the CLI (put, get, del, list) through the client library: straight to the
 * shard's leader, with safe retries. Output is for people, or one JSON object with --json.
 * Exit codes (exit-codes.ts): 0 done, 3 key not found, 1 anything else (a condition did not
 * hold, refused, unavailable, nothing answered, outcome unknown).
 */

import { type GetResult, RaftKV, RaftKVError } from '../client/index.js';
import type { Connection } from './connection.js';
import { exitCodes } from './exit-codes.js';

export interface OutputOptions {
  readonly json?: boolean;
}

/** Text when the bytes are valid UTF-8, else base64, labelled. */
function encodeValue(value: Uint8Array): { value: string; encoding: 'utf8' | 'base64' } {
  try {
    return { value: new TextDecoder('utf-8', { fatal: true }).decode(value), encoding: 'utf8' };
  } catch {
    return { value: Buffer.from(value).toString('base64'), encoding: 'base64' };
  }
}

/** A value on one line for a table: control characters escaped, long values cut. */
function preview(value: Uint8Array, widthMax = 60): string {
  const { value: text, encoding } = encodeValue(value);
  if (encoding === 'base64') return `(${value.byteLength} bytes, binary)`;
  const escaped = JSON.stringify(text).slice(1, -1);
  return escaped.length > widthMax ? `${escaped.slice(0, widthMax - 1)}…` : escaped;
}

export class ClientCli {
  readonly #kv: RaftKV;

  constructor(c: Connection) {
    this.#kv = new RaftKV({ endpoints: c.endpoints, token: c.token, ca: c.ca });
  }

  async #run(o: OutputOptions, op: () => Promise<void>): Promise<void> {
    try {
      await op();
    } catch (err) {
      if (!(err instanceof RaftKVError)) throw err;
      const code = err.code === 'not_found' ? exitCodes.notFound : exitCodes.failed;
      const unknown = err.outcomeUnknown ? ' (the write may or may not have taken effect)' : '';
      if (o.json === true) {
        const error = {
          code: err.code,
          status: err.status,
          message: err.message,
          outcomeUnknown: err.outcomeUnknown,
        };
        process.stdout.write(`${JSON.stringify({ error })}\n`);
      }
      process.stderr.write(
        `raftkv: ${err.code}${err.status ? ` (${err.status})` : ''}: ${err.message}${unknown}\n`,
      );
      process.exitCode = code;
    } finally {
      await this.#kv.close();
    }
  }

  put(
    key: string,
    value: string,
    o: OutputOptions & { ifMatch?: string; ifAbsent?: boolean; lease?: string },
  ): Promise<void> {
    return this.#run(o, async () => {
      const r = await this.#kv.put(key, value, {
        ...(o.ifMatch !== undefined ? { ifMatch: o.ifMatch } : {}),
        ...(o.ifAbsent === true ? { ifNoneMatch: true } : {}),
        ...(o.lease !== undefined ? { lease: o.lease } : {}),
      });
      if (o.json === true) {
        const { key: k, version, shard, node, term, index } = r;
        process.stdout.write(`${JSON.stringify({ key: k, version, shard, node, term, index })}\n`);
      } else {
        process.stdout.write(
          `OK version ${r.version} (shard ${r.shard}, leader ${r.node}, term ${r.term})\n`,
        );
      }
    });
  }

  get(key: string, o: OutputOptions & { stale?: boolean }): Promise<void> {
    return this.#run(o, async () => {
      const r = await this.#kv.get(key, { consistency: o.stale === true ? 'stale' : 'linearizable' });
      if (r === null) throw notFound(key);
      if (o.json === true) process.stdout.write(`${JSON.stringify(getJson(r))}\n`);
      else process.stdout.write(`${Buffer.from(r.value).toString('utf8')}\n`);
    });
  }

  del(key: string, o: OutputOptions & { ifMatch?: string }): Promise<void> {
    return this.#run(o, async () => {
      const deleted = await this.#kv.delete(key, o.ifMatch !== undefined ? { ifMatch: o.ifMatch } : {});
      if (!deleted) throw notFound(key);
      process.stdout.write(
        o.json === true ? `${JSON.stringify({ key, deleted: true })}\n` : `deleted ${key}\n`,
      );
    });
  }

  /** `lease grant`: a lease that nothing renews (renew it with `lease keepalive`). */
  leaseGrant(ttlMs: number, o: OutputOptions): Promise<void> {
    return this.#run(o, async () => {
      const r = await this.#kv.grantLease(ttlMs);
      process.stdout.write(
        o.json === true ? `${JSON.stringify(r)}\n` : `lease ${r.lease} (ttl ${r.ttlMs} ms)\n`,
      );
    });
  }

  leaseKeepalive(lease: string, o: OutputOptions): Promise<void> {
    return this.#run(o, async () => {
      const r = await this.#kv.keepAlive(lease);
      process.stdout.write(
        o.json === true ? `${JSON.stringify(r)}\n` : `renewed ${r.lease} for ${r.ttlMs} ms\n`,
      );
    });
  }

  leaseRevoke(lease: string, o: OutputOptions): Promise<void> {
    return this.#run(o, async () => {
      await this.#kv.revokeLease(lease);
      process.stdout.write(
        o.json === true ? `${JSON.stringify({ lease, revoked: true })}\n` : `revoked ${lease}\n`,
      );
    });
  }

  /**
   * `lease hold`: grants a lease, writes `pairs` (KEY=VALUE) under it and keeps it alive until
   * Ctrl-C (then revokes it: the keys go) or until it is lost (exit 1).
   */
  leaseHold(ttlMs: number, pairs: readonly string[], o: OutputOptions): Promise<void> {
    return this.#run(o, async () => {
      const writes = pairs.map((p) => {
        const at = p.indexOf('=');
        if (at < 1)
          throw new RaftKVError('bad_request', null, `${JSON.stringify(p)} is not KEY=VALUE`, false);
        return [p.slice(0, at), p.slice(at + 1)] as const;
      });
      const lease = await this.#kv.lease(ttlMs);
      const say = (line: Record<string, unknown>, text: string) =>
        process.stdout.write(o.json === true ? `${JSON.stringify(line)}\n` : `${text}\n`);
      say({ lease: lease.id, ttlMs }, `holding lease ${lease.id} (ttl ${ttlMs} ms); Ctrl-C revokes it`);
      for (const [key, value] of writes) {
        const r = await this.#kv.put(key, value, { lease: lease.id });
        say({ key, version: r.version }, `put ${key} (version ${r.version})`);
      }
      const stopped = new Promise<'stopped'>((resolve) => process.once('SIGINT', () => resolve('stopped')));
      // The lease's own timers do not hold a process open; this command is there to hold it.
      const holding = setInterval(() => {}, 60_000);
      const ended = await Promise.race([stopped, lease.lost]).finally(() => clearInterval(holding));
      if (ended !== 'stopped') throw ended;
      await lease.close();
      say({ lease: lease.id, revoked: true }, `revoked ${lease.id}`);
    });
  }

  /** One page (`limit` keys after `after`), or every page with `all`. */
  /**
   * Prints the changes under `prefix` as they come, one line each (`--json`: one JSON object
   * each, with the cursor to resume from), until Ctrl-C; the watch resumes by itself across
   * node failures.
   */
  watch(prefix: string, o: OutputOptions & { cursor?: string }): Promise<void> {
    return this.#run(o, async () => {
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      const options = { signal: stop.signal, ...(o.cursor === undefined ? {} : { cursor: o.cursor }) };
      for await (const e of this.#kv.watch(prefix, options)) {
        if (o.json === true) {
          const value = e.value === null ? {} : encodeValue(e.value);
          const line = {
            type: e.type,
            key: e.key,
            ...value,
            version: e.version,
            shard: e.shard,
            cursor: e.cursor,
          };
          process.stdout.write(`${JSON.stringify(line)}\n`);
        } else {
          const what = e.value === null ? '' : ` = ${preview(e.value)}`;
          process.stdout.write(`${e.type.padEnd(6)} ${e.key}${what}  (version ${e.version})\n`);
        }
      }
    });
  }

  list(prefix: string, o: OutputOptions & { limit: number; after?: string; all?: boolean }): Promise<void> {
    return this.#run(o, async () => {
      const items: { key: string; value: Uint8Array; version: string }[] = [];
      let after = o.after;
      let next: string | null = null;
      for (;;) {
        const page = await this.#kv.list(prefix, {
          limit: o.limit,
          ...(after !== undefined ? { after } : {}),
        });
        items.push(...page.items);
        next = page.next;
        if (o.all !== true || next === null) break;
        after = next;
      }
      if (o.json === true) {
        const out = items.map((i) => ({ key: i.key, ...encodeValue(i.value), version: i.version }));
        process.stdout.write(`${JSON.stringify({ items: out, more: next !== null, next })}\n`);
        return;
      }
      const rows = [['KEY', 'VERSION', 'VALUE'], ...items.map((i) => [i.key, i.version, preview(i.value)])];
      const widths = [0, 0];
      for (const r of rows) for (const c of [0, 1]) widths[c] = Math.max(widths[c]!, r[c]!.length);
      if (items.length > 0) {
        for (const r of rows)
          process.stdout.write(`${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}\n`);
      }
      const count = `${items.length} key${items.length === 1 ? '' : 's'}${prefix ? ` with prefix ${JSON.stringify(prefix)}` : ''}`;
      const more =
        next === null
          ? ''
          : `; more after ${JSON.stringify(next)} (raftkv list ${prefix ? `${shellQuote(prefix)} ` : ''}--after ${shellQuote(next)})`;
      process.stdout.write(`${count}${more}\n`);
    });
  }
}

function notFound(key: string): RaftKVError {
  return new RaftKVError('not_found', 404, `key ${JSON.stringify(key)} not found`, false);
}

function getJson(r: GetResult) {
  return {
    key: r.key,
    ...encodeValue(r.value),
    version: r.version,
    shard: r.shard,
    node: r.node,
    term: r.term,
    index: r.index,
  };
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
