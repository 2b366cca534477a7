/**
 * A proxy in front of each node for client-library tests: relays every request to its node and
 * rewrites `GET /v1/cluster` so the client keeps talking through the proxies. A test can make it
 * lose the answer to chosen requests: the node does the work, then the connection is cut before
 * the client hears back — an acknowledgement lost on the way.
 */

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';

export interface ProxiedNode {
  readonly id: string;
  readonly api: string;
}

export class LossyProxies {
  readonly #servers: Server[] = [];
  /** Node id → proxy URL. */
  readonly urls = new Map<string, string>();
  /** Requests for which this returns true have their answer dropped after the node answered. */
  dropAnswer: (req: { method: string; url: string; headers: IncomingMessage['headers'] }) => boolean = () =>
    false;
  /** Requests relayed, and answers dropped. */
  relayed = 0;
  dropped = 0;

  static async start(nodes: readonly ProxiedNode[]): Promise<LossyProxies> {
    const p = new LossyProxies();
    for (const n of nodes) {
      const server = createServer((req, res) => void p.#relay(n, req, res));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      p.#servers.push(server);
      p.urls.set(n.id, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    }
    return p;
  }

  async #relay(
    node: ProxiedNode,
    req: IncomingMessage,
    res: import('node:http').ServerResponse,
  ): Promise<void> {
    this.relayed++;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === 'string' && k !== 'host' && k !== 'connection' && k !== 'content-length')
        headers[k] = v;
    }
    try {
      const answer = await request(new URL(req.url ?? '/', node.api), {
        method: (req.method ?? 'GET') as 'GET',
        headers,
        body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
      });
      let body = Buffer.from(await answer.body.arrayBuffer());
      if (this.dropAnswer({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers })) {
        this.dropped++;
        req.socket.destroy();
        return;
      }
      if (req.url === '/v1/cluster' && answer.statusCode === 200)
        body = Buffer.from(this.#rewrite(body.toString('utf8')));
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(answer.headers)) {
        if (
          typeof v === 'string' &&
          k !== 'content-length' &&
          k !== 'connection' &&
          k !== 'keep-alive' &&
          k !== 'transfer-encoding'
        )
          out[k] = v;
      }
      res.writeHead(answer.statusCode, out).end(body);
    } catch {
      req.socket.destroy();
    }
  }

  #rewrite(json: string): string {
    const d = JSON.parse(json) as { nodes: { id: string; api: string }[] };
    for (const n of d.nodes) n.api = this.urls.get(n.id) ?? n.api;
    return JSON.stringify(d);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.closeAllConnections();
            s.close(() => resolve());
          }),
      ),
    );
  }
}
