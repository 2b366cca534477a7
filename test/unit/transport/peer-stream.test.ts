/**
 * The peer stream between a real PeerLink (or HttpTransport) and a real peer server on
 * 127.0.0.1: messages arrive in order from their sender as frames, not requests; calls are
 * answered, paired with their answers by id, and fail as not sent, lost or failed exactly as
 * peer-link.ts says; a peer that answers the Upgrade with 404 gets its messages as batch requests.
 */

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpTransport } from '../../../src/transport/http-transport.js';
import { peerAuthHeader, peerMacValid } from '../../../src/transport/peer-auth.js';
import { batchPath } from '../../../src/transport/peer-link.js';
import { decodeBatch, type PeerBatch, wireVersion } from '../../../src/transport/wire.js';
import {
  bodyBytesMax,
  closeAll,
  closeLater,
  heartbeat,
  link,
  recordingLog,
  said,
  secret,
  settled,
  startPeerServer,
} from './stream-harness.js';

afterEach(closeAll);

const text = (s: string) => Buffer.from(s);
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('messages on the peer stream', () => {
  it('arrive at the sink in order, from the sender, in frames of at most batchMessagesMax', async () => {
    const server = await startPeerServer();
    const l = link(server.url, { batchMessagesMax: 64 });
    const sent = Array.from({ length: 500 }, (_, i) => heartbeat(i));
    for (let turn = 0; turn < 5; turn++) {
      l.enqueue(sent.slice(turn * 100, (turn + 1) * 100));
      await nextTurn();
    }
    await expect.poll(() => server.messages().length).toBe(500);
    expect(server.messages()).toEqual(sent.map((gm) => ({ from: 'n2', gm })));
    expect(Math.max(...server.received.map((r) => r.msgs.length))).toBe(64);
    expect(server.requests).toEqual([]);
  });
});

describe('calls on the peer stream', () => {
  it('are answered with what the handler returned, and a rejection fails the call with its message', async () => {
    const asked: string[] = [];
    const server = await startPeerServer(async (from, payload) => {
      const p = Buffer.from(payload).toString();
      asked.push(`${from}: ${p}`);
      if (p === 'fail') throw new Error('no shard 9 here');
      return text(`${p.toUpperCase()} for ${from}`);
    });
    const t = new HttpTransport({
      clusterId: 'c1',
      self: 'n2',
      peers: new Map([['n1', server.url]]),
      requestTimeoutMs: 2_000,
      secret,
      log: pino({ level: 'silent' }),
      frameBytesMax: bodyBytesMax,
    });
    closeLater(() => t.close());
    t.send([heartbeat(1)]);
    await expect.poll(() => server.messages().length).toBe(1);
    expect(await settled(t.call('n1', text('ping'), 2_000))).toBe('answered PING for n2');
    expect(await settled(t.call('n1', text('fail'), 2_000))).toBe('CallFailedError: no shard 9 here');
    expect(await settled(t.call('n7', text('ping'), 2_000))).toBe('CallNotSentError: no link to n7');
    expect(asked).toEqual(['n2: ping', 'n2: fail']);
  });

  it('answered out of order still reach their own callers', async () => {
    const waiting = new Map<string, () => void>();
    const server = await startPeerServer(
      (_from, payload) =>
        new Promise((resolve) => {
          const p = Buffer.from(payload).toString();
          waiting.set(p, () => resolve(text(`re ${p}`)));
        }),
    );
    const l = link(server.url);
    l.enqueue([heartbeat(1)]);
    await expect.poll(() => server.messages().length).toBe(1);
    const answers = ['a', 'b', 'c'].map((p) => settled(l.call(text(p), 5_000)));
    await expect.poll(() => [...waiting.keys()].sort()).toEqual(['a', 'b', 'c']);
    for (const p of ['c', 'a', 'b']) waiting.get(p)!();
    expect(await Promise.all(answers)).toEqual(['answered re a', 'answered re b', 'answered re c']);
  });

  it('fail on a server that takes no calls', async () => {
    const server = await startPeerServer();
    const l = link(server.url);
    l.enqueue([heartbeat(1)]);
    await expect.poll(() => server.messages().length).toBe(1);
    expect(await settled(l.call(text('ping'), 2_000))).toBe('CallFailedError: this node takes no calls');
  });

  it('are not sent before a stream is open, and are once it opened', async () => {
    let asked = 0;
    const server = await startPeerServer(async (_from, payload) => {
      asked++;
      return payload;
    });
    const l = link(server.url);
    expect(await settled(l.call(text('early'), 2_000))).toBe('CallNotSentError: no open stream to n1');
    l.enqueue([heartbeat(1)]);
    await expect.poll(() => server.messages().length).toBe(1);
    expect(asked).toBe(0);
    expect(await settled(l.call(text('later'), 2_000))).toBe('answered later');
    expect(asked).toBe(1);
  });

  it('are lost when the stream closes before the answer', async () => {
    let asked = 0;
    const server = await startPeerServer(() => {
      asked++;
      return new Promise<Uint8Array>(() => undefined);
    });
    const { log, lines } = recordingLog();
    const l = link(server.url, { log });
    l.enqueue([heartbeat(1)]);
    await expect.poll(() => server.messages().length).toBe(1);
    const answer = settled(l.call(text('never'), 10_000));
    await expect.poll(() => asked).toBe(1);
    await server.close();
    expect(await answer).toBe('CallLostError: the stream to n1 closed');
    expect(said(lines, 'peer stream closed').map((l) => l.lostCalls)).toEqual([1]);
  });

  it('are lost when no answer comes by their deadline', async () => {
    const server = await startPeerServer(() => new Promise<Uint8Array>(() => undefined));
    const l = link(server.url);
    l.enqueue([heartbeat(1)]);
    await expect.poll(() => server.messages().length).toBe(1);
    const startMs = Date.now();
    expect(await settled(l.call(text('never'), 150))).toBe('CallLostError: no answer from n1 in time');
    const tookMs = Date.now() - startMs;
    expect(tookMs).toBeGreaterThanOrEqual(150);
    expect(tookMs).toBeLessThan(2_000);
  });
});

describe('a peer without streams', () => {
  it('answers the Upgrade with 404 and gets the messages as signed batch requests instead', async () => {
    const batches: PeerBatch[] = [];
    const signed: boolean[] = [];
    let upgrades = 0;
    const old = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const body = Buffer.concat(parts);
        if (req.method !== 'POST' || req.url !== batchPath) {
          res.writeHead(404).end();
          return;
        }
        signed.push(peerMacValid(secret, batchPath, body, req.headers[peerAuthHeader]));
        const decoded = decodeBatch(body, { messagesMax: 1_000 });
        if (decoded.ok) batches.push(decoded.value);
        res.writeHead(decoded.ok ? 204 : 400).end();
      });
    });
    old.on('upgrade', (_req, socket) => {
      upgrades++;
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    });
    await new Promise<void>((resolve) => old.listen(0, '127.0.0.1', resolve));
    closeLater(async () => {
      old.closeAllConnections();
      await new Promise((resolve) => old.close(resolve));
    });
    const { log, lines } = recordingLog();
    const l = link(`http://127.0.0.1:${(old.address() as AddressInfo).port}`, { log, batchMessagesMax: 8 });
    const sent = Array.from({ length: 30 }, (_, i) => heartbeat(i));
    for (let turn = 0; turn < 3; turn++) {
      l.enqueue(sent.slice(turn * 10, (turn + 1) * 10));
      await nextTurn();
    }
    await expect.poll(() => batches.flatMap((b) => b.msgs).length).toBe(30);
    expect(batches.flatMap((b) => b.msgs)).toEqual(sent);
    expect(batches.map(({ v, cluster, from }) => ({ v, cluster, from }))).toEqual(
      batches.map(() => ({ v: wireVersion, cluster: 'c1', from: 'n2' })),
    );
    expect(Math.max(...batches.map((b) => b.msgs.length))).toBe(8);
    expect(signed.every((ok) => ok)).toBe(true);
    expect(upgrades).toBe(1);
    expect(said(lines, 'peer has no peer stream; sending it requests')).toHaveLength(1);
    expect(await settled(l.call(text('ping'), 2_000))).toBe('CallNotSentError: no open stream to n1');
    expect(upgrades).toBe(1);
  });
});
