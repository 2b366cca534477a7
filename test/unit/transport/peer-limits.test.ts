/**
 * Header size and slow-sender limits of the peer port (peer-limits.ts), on a real socket: a body
 * over `bodyBytesMax` gets 413 before anything is decoded, 64 KiB of headers get 431, and a
 * sender that dribbles its headers, or connects and says nothing, gets 408 and is disconnected
 * within the header timeout.
 */

import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peerServerLimits, peerTimeouts } from '../../../src/transport/peer-limits.js';
import { batchPath } from '../../../src/transport/peer-link.js';
import { buildPeerServer } from '../../../src/transport/peer-server.js';
import { dribble, probe, serverLimits } from '../api/slow-client.js';

const app = buildPeerServer({
  clusterId: 'c1',
  self: 'n1',
  secret: 'the-cluster-secret-of-c1',
  peers: new Set(['n2']),
  claims: async () => 'new',
  sink: () => {
    throw new Error('nothing may reach Raft');
  },
  log: pino({ level: 'silent' }),
  bodyBytesMax: 4096,
  messagesMax: 100,
  snapshotBytesMax: 1000,
});
let port: number;

beforeAll(async () => {
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await app.close();
});

describe('the peer port against large and slow senders', () => {
  it('has its limits on the server', () => {
    const s = app.server;
    expect(serverLimits(s)).toEqual({
      maxHeaderSize: 16_384,
      headersTimeout: peerServerLimits.headersTimeout,
      requestTimeout: peerTimeouts.requestTimeout,
      timeout: peerTimeouts.connectionTimeout,
      keepAliveTimeout: peerTimeouts.keepAliveTimeout,
    });
  });

  it('413 for a body over bodyBytesMax', async () => {
    const r = await fetch(`http://127.0.0.1:${port}${batchPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/msgpack' },
      body: new Uint8Array(4097),
    });
    expect(r.status).toBe(413);
  });

  it('431 for 64 KiB of headers', async () => {
    const r = await probe(port, (s) =>
      s.write(`POST ${batchPath} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`),
    );
    expect(r.status).toBe(431);
  });

  it('408 and a closed connection for a sender that dribbles its headers or says nothing', async () => {
    const boundMs = peerServerLimits.headersTimeout + peerServerLimits.connectionsCheckingInterval + 2_000;
    const [slow, silent] = await Promise.all([
      probe(port, (s) =>
        dribble(s, `POST ${batchPath} HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(2_000)}\r\n\r\n`, 10),
      ),
      probe(port, () => undefined),
    ]);
    for (const r of [slow, silent]) {
      expect(r.status).toBe(408);
      expect(r.closedAfterMs).toBeGreaterThanOrEqual(peerServerLimits.headersTimeout - 20);
      expect(r.closedAfterMs).toBeLessThan(boundMs);
    }
  });
});
