/**
 * HTTP to a cluster's nodes: one undici connection pool per node incarnation (reset() whenever a
 * process goes, stops or comes back, so no request rides a dead keep-alive socket), the trusted
 * CA for https nodes, and the cluster's bearer token on every request that sets no
 * `authorization` of its own.
 */

import { Agent } from 'undici';
import { type Reply, type RequestOptions, sendRequest } from './node-api.js';

export class NodeClients {
  readonly #agents = new Map<string, Agent>();
  readonly #o: { readonly ca?: Buffer; readonly token?: string };

  constructor(o: { readonly ca?: Buffer; readonly token?: string }) {
    this.#o = o;
  }

  /**
   * One request to `url` on node `id`; throws on a network error or after `o.timeoutMs`. An
   * `authorization` header of '' sends none.
   */
  request(id: string, url: string, method: string, o: RequestOptions): Promise<Reply> {
    const headers: Record<string, string> = { ...o.headers };
    if (headers.authorization === undefined && this.#o.token !== undefined)
      headers.authorization = `Bearer ${this.#o.token}`;
    if (headers.authorization === '') delete headers.authorization;
    return sendRequest(url, method, { ...o, headers }, this.#agent(id));
  }

  /** Drops node `id`'s pool; its next request opens new connections. */
  reset(id: string): void {
    const agent = this.#agents.get(id);
    this.#agents.delete(id);
    if (agent !== undefined) void agent.destroy().catch(() => undefined);
  }

  /** Closes every pool. */
  async close(): Promise<void> {
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.all(agents.map((a) => a.destroy().catch(() => undefined)));
  }

  #agent(id: string): Agent {
    let agent = this.#agents.get(id);
    if (agent === undefined) {
      const ca = this.#o.ca;
      agent = new Agent({
        connections: 64,
        keepAliveTimeout: 10_000,
        connect: ca === undefined ? {} : { ca },
      });
      this.#agents.set(id, agent);
    }
    return agent;
  }
}
