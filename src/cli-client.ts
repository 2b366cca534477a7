/**
 * The client commands of the CLI: put/get/del through the client library (straight to the
 * shard's leader, with safe retries), status over plain HTTP from every node. Prints values raw,
 * errors as one line and exit code 1.
 */

import { request } from 'undici';
import { RaftKV, RaftKVError } from './client/index.js';

export class ClientCli {
  readonly #endpoints: readonly string[];
  readonly #kv: RaftKV;

  constructor(endpoints: readonly string[]) {
    this.#endpoints = endpoints;
    this.#kv = new RaftKV({ endpoints });
  }

  async #run(op: () => Promise<void>): Promise<void> {
    try {
      await op();
    } catch (err) {
      if (!(err instanceof RaftKVError)) throw err;
      process.stderr.write(`error ${err.status ?? ''} ${err.code}: ${err.message}\n`);
      process.exitCode = 1;
    } finally {
      await this.#kv.close();
    }
  }

  put(key: string, value: string): Promise<void> {
    return this.#run(async () => {
      const r = await this.#kv.put(key, value);
      process.stdout.write(`${JSON.stringify({ key: r.key, version: r.version })}\n`);
    });
  }

  get(key: string, stale: boolean): Promise<void> {
    return this.#run(async () => {
      const r = await this.#kv.get(key, { consistency: stale ? 'stale' : 'linearizable' });
      if (r === null) throw new RaftKVError('not_found', 404, `key ${JSON.stringify(key)} not found`, false);
      process.stdout.write(`${Buffer.from(r.value).toString('utf8')}\n`);
    });
  }

  del(key: string): Promise<void> {
    return this.#run(async () => {
      if (!(await this.#kv.delete(key)))
        throw new RaftKVError('not_found', 404, `key ${JSON.stringify(key)} not found`, false);
    });
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
