/**
 * The client learns a shard's leader from the X-Raft-Node of the answers only the leader gives
 * (success, 404, 412), never from an error the node it asked gave on its own (a 400 or 413 at
 * the edge), which names that node. Two stand-in nodes of a one-shard cluster whose map knows no
 * leader, answering each PUT as scripted and recording who was asked.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RaftKV, RaftKVError } from '../../../src/client/index.js';
import { errorStatuses, provenanceHeadersOf } from '../../../src/protocol/index.js';
import { HashRing } from '../../../src/shard/index.js';

/** A stand-in node: answers PUTs with the statuses of `script` in turn, then 200. */
interface StandIn {
  readonly id: string;
  readonly server: Server;
  url: string;
  script: number[];
}

describe('which answers teach the client the leader', () => {
  let nodes: StandIn[] = [];
  /** Who was asked, in order: `n1 PUT /v1/kv/a`. */
  let asked: string[] = [];
  let client: RaftKV;

  beforeEach(async () => {
    asked = [];
    nodes = ['n1', 'n2'].map((id) => {
      const node: StandIn = { id, url: '', script: [], server: createServer() };
      node.server.on('request', (req, res) => answer(node, req, res));
      return node;
    });
    for (const node of nodes) {
      await new Promise<void>((resolve) => node.server.listen(0, '127.0.0.1', resolve));
      node.url = `http://127.0.0.1:${(node.server.address() as AddressInfo).port}`;
    }
    client = new RaftKV({ endpoints: [nodes[0]!.url], operationTimeoutMs: 2_000 });
  });

  afterEach(async () => {
    await client?.close();
    for (const node of nodes) await new Promise((resolve) => node.server.close(resolve));
  });

  /** Answers as a raftkv node `node.id` would, with its provenance on every answer about a key. */
  function answer(node: StandIn, req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    req.on('end', () => {
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
        res.end(JSON.stringify(body));
      };
      if (req.url === '/v1/cluster') {
        json(200, {
          clusterId: 'stand-in',
          nodes: nodes.map((n) => ({ id: n.id, api: n.url, peer: 'http://127.0.0.1:1' })),
          shards: [{ shard: 0, members: nodes.map((n) => n.id), leader: null, term: 1 }],
          ring: new HashRing(1).spec,
        });
        return;
      }
      asked.push(`${node.id} ${req.method} ${req.url}`);
      const status = node.script.shift() ?? 200;
      const at = provenanceHeadersOf({ shard: 0, node: node.id, term: 1, index: 7 });
      if (status === 200) {
        json(200, { key: 'k', version: '7' }, { ...at, etag: '"7"' });
      } else {
        const code = Object.entries(errorStatuses).find(([, s]) => s === status)![0];
        json(status, { error: { code, message: `scripted ${status}` } }, at);
      }
    });
  }

  /** The code of the RaftKVError `op` fails with. */
  const codeOf = (op: Promise<unknown>) =>
    op.then(
      () => 'ok',
      (e: unknown) => (e instanceof RaftKVError ? e.code : Promise.reject(e)),
    );

  it('a 413 from the second node asked does not make it the leader', async () => {
    const [n1, n2] = nodes;
    n1!.script = [errorStatuses.unavailable];
    n2!.script = [errorStatuses.too_large];
    expect(await codeOf(client.put('a', 'v'))).toBe('too_large');
    const put = await client.put('b', 'v');
    expect(put.node).toBe('n1');
    expect(asked).toEqual(['n1 PUT /v1/kv/a', 'n2 PUT /v1/kv/a', 'n1 PUT /v1/kv/b']);
  });

  it('a 412 from the second node asked makes it the leader', async () => {
    const [n1, n2] = nodes;
    n1!.script = [errorStatuses.unavailable];
    n2!.script = [errorStatuses.precondition_failed];
    expect(await codeOf(client.put('a', 'v', { ifNoneMatch: true }))).toBe('precondition_failed');
    const put = await client.put('b', 'v');
    expect(put.node).toBe('n2');
    expect(asked).toEqual(['n1 PUT /v1/kv/a', 'n2 PUT /v1/kv/a', 'n2 PUT /v1/kv/b']);
  });
});
