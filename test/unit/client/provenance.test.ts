/**
 * The client library's results say where they came from, and only a raftkv node may say it. A
 * one-node cluster listening on loopback: put and get results carry the node's X-Raft-* values.
 * A stand-in server that answers like a node but without the X-Raft-* headers (as a proxy that
 * drops them would): every key operation fails with `bad_reply`, the writes as outcome unknown,
 * rather than report a shard, node, term or index that nobody sent, or an absence nobody stated.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RaftKV, RaftKVError } from '../../../src/client/index.js';
import { HashRing } from '../../../src/shard/index.js';
import { provenanceNow } from '../api/key-provenance.js';
import { type OneNode, startListeningOneNode } from '../api/one-node.js';

describe('client results from a raftkv node', () => {
  let one: OneNode & { url: string };
  let client: RaftKV;

  beforeAll(async () => {
    one = await startListeningOneNode();
    client = new RaftKV({ endpoints: [one.url] });
  });

  afterAll(async () => {
    await client?.close();
    await one?.close();
  });

  it('carry the shard, node, term and applied index the node sent', async () => {
    const put = await client.put('client/served', 'v');
    expect(put).toEqual({
      key: 'client/served',
      version: put.version,
      ...numeric(provenanceNow(one.node, 0)),
    });
    expect(put.index).toBe(Number(put.version));
    const got = await client.get('client/served');
    expect(got).toEqual({
      key: 'client/served',
      value: new Uint8Array(Buffer.from('v')),
      version: put.version,
      ...numeric(provenanceNow(one.node, 0)),
    });
    expect([await client.delete('client/served'), await client.delete('client/served')]).toEqual([
      true,
      false,
    ]);
    expect(await client.get('client/served')).toBe(null);
  });
});

describe('client results from a server that sends no provenance', () => {
  let server: Server;
  let url: string;
  let client: RaftKV;
  /** What the stand-in adds to each answer; nothing by default. */
  let extraHeaders: Record<string, string> = {};

  beforeAll(async () => {
    server = createServer((req, res) => standIn(req, res, url, extraHeaders));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = new RaftKV({ endpoints: [url], operationTimeoutMs: 2_000 });
  });

  afterAll(async () => {
    await client?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  /** The RaftKVError an operation fails with, as plain fields. */
  const failure = async (op: Promise<unknown>) => {
    const err = await op.then(
      () => null,
      (e: unknown) => e,
    );
    if (!(err instanceof RaftKVError)) throw new Error(`expected a RaftKVError, got ${String(err)}`);
    return { code: err.code, status: err.status, outcomeUnknown: err.outcomeUnknown, message: err.message };
  };

  const noProvenance = (method: string, path: string, status: number) =>
    `${method} ${url}${path} was answered ${status} with no valid provenance (no x-raft-shard header): not the answer of a raftkv node (is a proxy in between?)`;

  it('a put fails as bad_reply of unknown outcome', async () => {
    expect(await failure(client.put('k', 'v'))).toEqual({
      code: 'bad_reply',
      status: 200,
      outcomeUnknown: true,
      message: noProvenance('PUT', '/v1/kv/k', 200),
    });
  });

  it('a get fails as bad_reply, and so does a 404: absence is not taken from a stranger', async () => {
    expect(await failure(client.get('k'))).toEqual({
      code: 'bad_reply',
      status: 200,
      outcomeUnknown: false,
      message: noProvenance('GET', '/v1/kv/k', 200),
    });
    expect(await failure(client.get('absent'))).toEqual({
      code: 'bad_reply',
      status: 404,
      outcomeUnknown: false,
      message: noProvenance('GET', '/v1/kv/absent', 404),
    });
  });

  it('a delete fails as bad_reply of unknown outcome', async () => {
    expect(await failure(client.delete('k'))).toEqual({
      code: 'bad_reply',
      status: 204,
      outcomeUnknown: true,
      message: noProvenance('DELETE', '/v1/kv/k', 204),
    });
  });

  it('a provenance header that is not a whole number is named', async () => {
    extraHeaders = { 'x-raft-shard': '0', 'x-raft-node': 'n1', 'x-raft-term': 'two', 'x-raft-index': '7' };
    try {
      expect((await failure(client.get('k'))).message).toBe(
        `GET ${url}/v1/kv/k was answered 200 with no valid provenance (x-raft-term is "two", not a whole number): not the answer of a raftkv node (is a proxy in between?)`,
      );
    } finally {
      extraHeaders = {};
    }
  });
});

/** Strings of provenanceNow() as the numbers a client result holds. */
function numeric(p: Record<string, string>) {
  return { shard: Number(p.shard), node: p.node, term: Number(p.term), index: Number(p.index) };
}

/**
 * Answers as a one-node, one-shard raftkv cluster at `url` would, minus the X-Raft-* headers:
 * the cluster map; `k` holds "v" at version 7, every other key is absent.
 */
function standIn(
  req: IncomingMessage,
  res: ServerResponse,
  url: string,
  extra: Record<string, string>,
): void {
  req.resume();
  req.on('end', () => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...extra });
      res.end(JSON.stringify(body));
    };
    const path = req.url ?? '';
    if (path === '/v1/cluster') {
      json(200, {
        clusterId: 'stand-in',
        nodes: [{ id: 'n1', api: url, peer: 'http://127.0.0.1:1' }],
        shards: [{ shard: 0, members: ['n1'], leader: 'n1', term: 1 }],
        ring: new HashRing(1).spec,
      });
    } else if (req.method === 'PUT') {
      res.setHeader('etag', '"7"');
      json(200, { key: 'k', version: '7' });
    } else if (req.method === 'DELETE') {
      res.writeHead(204, extra).end();
    } else if (path === '/v1/kv/k') {
      res.writeHead(200, { etag: '"7"', 'content-type': 'application/octet-stream', ...extra }).end('v');
    } else {
      json(404, { error: { code: 'not_found', message: 'key not found' } });
    }
  });
}
