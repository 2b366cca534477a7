/**
 * Header size and slow-client limits of the client port (one node listening on port 0, with short
 * time limits so the test is quick): a client that dribbles its headers or its body, or says
 * nothing, gets 408 and is disconnected within the bound; 64 KiB of headers get 431; a body over
 * `valueBytesMax` gets 413 in the catalogue format. The defaults are checked on the server itself.
 */

import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiHttpLimits } from '../../../src/api/http-limits.js';
import { type OneNode, startOneNode } from './one-node.js';
import { dribble, probe, serverLimits } from './slow-client.js';

const headersTimeoutMs = 300;
const receiveTimeoutMs = 800;
const checkEveryMs = 50;
/** Timers and the connection check run late on a busy machine; the bound allows for that. */
const slackMs = 1_000;

describe('the client port against large and slow clients', () => {
  let one: OneNode;
  let port: number;

  beforeAll(async () => {
    one = await startOneNode(
      { valueBytesMax: 1024 },
      { httpLimits: { headersTimeoutMs, receiveTimeoutMs, checkEveryMs } },
    );
    await one.app.listen({ port: 0, host: '127.0.0.1' });
    port = (one.app.server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await one?.close();
  });

  it('408 and a closed connection for a client that dribbles its headers', async () => {
    const r = await probe(port, (s) =>
      dribble(s, `GET /v1/kv/k HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(1_000)}\r\n\r\n`, 20),
    );
    expect(r.status).toBe(408);
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(headersTimeoutMs - 20);
    expect(r.closedAfterMs).toBeLessThan(headersTimeoutMs + checkEveryMs + slackMs);
  });

  it('408 and a closed connection for a client that connects and says nothing', async () => {
    const r = await probe(port, () => undefined);
    expect(r.status).toBe(408);
    expect(r.closedAfterMs).toBeLessThan(headersTimeoutMs + checkEveryMs + slackMs);
  });

  it('408 and a closed connection for a client that dribbles its body', async () => {
    const r = await probe(port, (s) => {
      s.write('PUT /v1/kv/slow-body HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n');
      dribble(s, 'b'.repeat(500), 20);
    });
    expect(r.status).toBe(408);
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(receiveTimeoutMs - 20);
    expect(r.closedAfterMs).toBeLessThan(receiveTimeoutMs + checkEveryMs + slackMs);
    expect((await fetch(`http://127.0.0.1:${port}/v1/kv/slow-body`)).status).toBe(404);
  });

  it('431 for 64 KiB of headers; 8 KiB are served', async () => {
    const big = await probe(port, (s) =>
      s.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`),
    );
    expect(big.status).toBe(431);
    const fine = await fetch(`http://127.0.0.1:${port}/healthz`, {
      headers: { 'x-big': 'a'.repeat(8 * 1024) },
    });
    expect(fine.status).toBe(200);
  });

  it('413 too_large in the catalogue format for a body over valueBytesMax', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/v1/kv/big`, { method: 'PUT', body: 'x'.repeat(1025) });
    expect(r.status).toBe(413);
    expect(await r.json()).toEqual({
      error: { code: 'too_large', message: 'value is larger than 1024 bytes' },
    });
    const exact = await fetch(`http://127.0.0.1:${port}/v1/kv/big`, {
      method: 'PUT',
      body: 'x'.repeat(1024),
    });
    expect(exact.status).toBe(200);
  });

  it('has the documented defaults on a server built without overrides', async () => {
    const plain = await startOneNode();
    try {
      const s = plain.app.server;
      const d = apiHttpLimits(plain.node.config.requestTimeoutMs);
      expect(d).toEqual({
        headerBytesMax: 16_384,
        headersTimeoutMs: 10_000,
        receiveTimeoutMs: 30_000,
        idleTimeoutMs: 20_000,
        keepAliveTimeoutMs: 30_000,
        checkEveryMs: 1_000,
      });
      expect(serverLimits(s)).toEqual({
        maxHeaderSize: d.headerBytesMax,
        headersTimeout: d.headersTimeoutMs,
        requestTimeout: d.receiveTimeoutMs,
        timeout: d.idleTimeoutMs,
        keepAliveTimeout: d.keepAliveTimeoutMs,
      });
    } finally {
      await plain.close();
    }
  });
});
