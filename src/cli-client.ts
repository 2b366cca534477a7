/**
 * The client commands of the CLI over plain HTTP: each request goes to the first endpoint that
 * answers (any node forwards to the right leader). Prints values raw, errors as one line.
 */

import { request } from 'undici';

export class ClientCli {
  readonly #endpoints: readonly string[];

  constructor(endpoints: readonly string[]) {
    if (endpoints.length === 0) throw new Error('no endpoints given');
    this.#endpoints = endpoints;
  }

  async #call(method: 'GET' | 'PUT' | 'DELETE', path: string, body?: string) {
    let lastError: Error | null = null;
    for (const endpoint of this.#endpoints) {
      try {
        const res = await request(new URL(path, endpoint), {
          method,
          body,
          signal: AbortSignal.timeout(10_000),
        });
        return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
      } catch (err) {
        lastError = err as Error;
      }
    }
    throw new Error(`no endpoint answered (${this.#endpoints.join(', ')}): ${lastError?.message}`);
  }

  #fail(status: number, text: string): never {
    let message = text;
    try {
      const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
      if (parsed.error) message = `${parsed.error.code}: ${parsed.error.message}`;
    } catch {}
    process.stderr.write(`error ${status} ${message}\n`);
    process.exit(1);
  }

  async put(key: string, value: string): Promise<void> {
    const res = await this.#call('PUT', `/v1/kv/${encodeURIComponent(key)}`, value);
    if (res.status !== 200) this.#fail(res.status, res.text);
    process.stdout.write(`${res.text}\n`);
  }

  async get(key: string, stale: boolean): Promise<void> {
    const res = await this.#call(
      'GET',
      `/v1/kv/${encodeURIComponent(key)}${stale ? '?consistency=stale' : ''}`,
    );
    if (res.status !== 200) this.#fail(res.status, res.text);
    process.stdout.write(`${res.text}\n`);
  }

  async del(key: string): Promise<void> {
    const res = await this.#call('DELETE', `/v1/kv/${encodeURIComponent(key)}`);
    if (res.status !== 204) this.#fail(res.status, res.text);
  }

  async status(): Promise<void> {
    for (const endpoint of this.#endpoints) {
      try {
        const res = await request(new URL('/v1/status', endpoint), { signal: AbortSignal.timeout(3_000) });
        const s = (await res.body.json()) as {
          id: string;
          groups: {
            shard: number;
            role: string;
            term: number;
            leader: string | null;
            commit: number;
            applied: number;
            lastIndex: number;
            snapshotIndex: number;
          }[];
        };
        for (const g of s.groups) {
          process.stdout.write(
            `${s.id} shard ${g.shard}: ${g.role.padEnd(12)} term ${g.term} leader ${g.leader ?? '-'} commit ${g.commit} applied ${g.applied} last ${g.lastIndex} snapshot ${g.snapshotIndex}\n`,
          );
        }
      } catch (err) {
        process.stdout.write(`${endpoint}: unreachable (${(err as Error).message})\n`);
      }
    }
  }
}
