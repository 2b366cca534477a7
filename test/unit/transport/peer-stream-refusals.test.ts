/**
 * What the accepting end of the peer stream refuses. A link without the cluster secret, from a
 * node the server does not know, or of another cluster is refused at the Upgrade: the server
 * logs why and nothing of the link's reaches the sink, while a control link gets through. On a
 * stream opened by hand with a correct handshake, a frame with a wrong MAC, a frame sent again
 * (its sequence number spent), a frame over `bodyBytesMax` and a frame that does not decode each
 * close the connection, and nothing of it or after it reaches the sink.
 */

import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { peerAuthHeader } from '../../../src/transport/peer-auth.js';
import type { PeerLinkOptions } from '../../../src/transport/peer-link.js';
import {
  acceptorProof,
  newNonce,
  openerProof,
  proofValid,
  sessionKey,
  streamHeaders,
  streamPath,
  streamProtocol,
} from '../../../src/transport/peer-stream.js';
import { encodeFrame, type GroupMessage } from '../../../src/transport/wire.js';
import {
  bodyBytesMax,
  closeAll,
  heartbeat,
  link,
  openerFrame,
  recordingLog,
  said,
  secret,
  settled,
  startPeerServer,
} from './stream-harness.js';

afterEach(closeAll);

/**
 * Sends a message through a link with `bad` options, waits until the link was refused, then one
 * through a control link from n3; answers what the server logged and what its sink got.
 */
async function refusedBesideControl(bad: Partial<PeerLinkOptions>) {
  const server = await startPeerServer();
  const { log, lines } = recordingLog();
  const refused = link(server.url, { ...bad, log });
  refused.enqueue([heartbeat(66)]);
  await expect.poll(() => said(lines, 'peer unreachable; messages to it are dropped').length).toBe(1);
  const control = link(server.url, { self: 'n3' });
  control.enqueue([heartbeat(7, 'n3')]);
  await expect.poll(() => server.messages().length).toBe(1);
  return {
    linkSaw: said(lines, 'peer unreachable; messages to it are dropped').map((l) => l.err),
    serverSaw: said(server.lines, 'refused peer request').map(({ source, reason }) => ({ source, reason })),
    sink: server.messages(),
    call: await settled(refused.call(Buffer.from('ping'), 1_000)),
  };
}

const controlOnly = [{ from: 'n3', gm: heartbeat(7, 'n3') }];

describe('the Upgrade of a peer stream', () => {
  it('is refused 401 to a link with another secret; only the control link gets through', async () => {
    expect(await refusedBesideControl({ secret: 'another-secret-entirely' })).toEqual({
      linkSaw: ['peer refused our MAC (401): the nodes do not share one cluster secret'],
      serverSaw: [
        { source: '127.0.0.1', reason: 'missing or wrong MAC: not signed with this cluster secret' },
      ],
      sink: controlOnly,
      call: 'CallNotSentError: no open stream to n1',
    });
  });

  it('is refused 403 to a sender the server does not know', async () => {
    expect(await refusedBesideControl({ self: 'n9' })).toEqual({
      linkSaw: ['peer refused the stream (403)'],
      serverSaw: [{ source: '127.0.0.1', reason: 'unknown sender n9' }],
      sink: controlOnly,
      call: 'CallNotSentError: no open stream to n1',
    });
  });

  it('is refused 403 to a link of another cluster', async () => {
    expect(await refusedBesideControl({ clusterId: 'c2' })).toEqual({
      linkSaw: ['peer refused the stream (403)'],
      serverSaw: [{ source: '127.0.0.1', reason: 'cluster id c2 is not c1' }],
      sink: controlOnly,
      call: 'CallNotSentError: no open stream to n1',
    });
  });

  it('survives callers that reset the connection as it is refused (no unhandled socket error)', async () => {
    const server = await startPeerServer();
    const { port } = new URL(server.url);
    for (let i = 0; i < 20; i++) {
      const socket = connect(Number(port), '127.0.0.1');
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      const closed = once(socket, 'close');
      socket.write(
        'GET /not-a-stream HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: anything\r\n\r\n',
      );
      // Reset the connection the moment the refusal starts to arrive, while the server writes it.
      await once(socket, 'data');
      socket.resetAndDestroy();
      await closed;
    }
    // An unhandled 'error' would have failed this test run; the server still takes a good link.
    const control = link(server.url, { self: 'n3' });
    control.enqueue([heartbeat(7, 'n3')]);
    await expect.poll(() => server.messages().length).toBe(1);
    expect(said(server.lines, 'refused peer request').length).toBeGreaterThan(0);
  });
});

/** A stream opened by hand as n2: the Upgrade, the server's 101 and proof, the session key. */
async function openByHand(port: number): Promise<{ socket: Socket; key: Buffer; closed: Promise<unknown> }> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const closed = once(socket, 'close');
  await once(socket, 'connect');
  const nonce = newNonce();
  socket.write(
    [
      `GET ${streamPath} HTTP/1.1`,
      `host: 127.0.0.1:${port}`,
      'connection: Upgrade',
      `upgrade: ${streamProtocol}`,
      `${streamHeaders.cluster}: c1`,
      `${streamHeaders.from}: n2`,
      `${streamHeaders.nonce}: ${nonce}`,
      `${peerAuthHeader}: ${openerProof(secret, 'c1', 'n2', nonce)}`,
      '',
      '',
    ].join('\r\n'),
  );
  const answer = await new Promise<string>((resolve, reject) => {
    let got = '';
    const onData = (chunk: Buffer) => {
      got += chunk.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      resolve(got);
    };
    socket.on('data', onData);
    void closed.then(() => reject(new Error(`closed during the handshake after ${JSON.stringify(got)}`)));
  });
  const [status, ...fields] = answer.split('\r\n\r\n')[0]!.split('\r\n');
  const headers = new Map(
    fields.map((f) => [f.slice(0, f.indexOf(':')).toLowerCase(), f.slice(f.indexOf(':') + 2)]),
  );
  const theirs = headers.get(streamHeaders.nonce)!;
  expect(status).toBe('HTTP/1.1 101 Switching Protocols');
  expect(headers.get('upgrade')).toBe(streamProtocol);
  expect(proofValid(acceptorProof(secret, nonce, theirs), headers.get(peerAuthHeader))).toBe(true);
  return { socket, key: sessionKey(secret, nonce, theirs), closed };
}

/** Resolves when `closed` does; fails the test if it has not within `ms`. */
async function closedWithin(closed: Promise<unknown>, ms = 5_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the server kept the stream open for ${ms} ms`)), ms);
  });
  await Promise.race([closed, late]).finally(() => clearTimeout(timer));
}

const body = (...msgs: GroupMessage[]) => encodeFrame({ msgs, calls: [], answers: [] });

describe('frames on a stream opened by hand', () => {
  it('a frame MACed with the session key and its sequence number reaches the sink', async () => {
    const server = await startPeerServer();
    const { socket, key } = await openByHand(server.port);
    socket.write(
      Buffer.concat([openerFrame(key, 0, body(heartbeat(1))), openerFrame(key, 1, body(heartbeat(2)))]),
    );
    await expect.poll(() => server.messages().length).toBe(2);
    expect(server.messages()).toEqual([
      { from: 'n2', gm: heartbeat(1) },
      { from: 'n2', gm: heartbeat(2) },
    ]);
    socket.destroy();
  });

  it('a frame with a wrong MAC closes the stream; neither it nor what follows reaches the sink', async () => {
    const server = await startPeerServer();
    const { socket, key, closed } = await openByHand(server.port);
    const forged = openerFrame(key, 1, body(heartbeat(2)));
    forged[4]! ^= 0xff;
    socket.write(
      Buffer.concat([
        openerFrame(key, 0, body(heartbeat(1))),
        forged,
        openerFrame(key, 2, body(heartbeat(3))),
      ]),
    );
    await closedWithin(closed);
    expect(server.messages()).toEqual([{ from: 'n2', gm: heartbeat(1) }]);
  });

  it('a frame sent again byte for byte closes the stream: its sequence number is spent', async () => {
    const server = await startPeerServer();
    const { socket, key, closed } = await openByHand(server.port);
    const first = openerFrame(key, 0, body(heartbeat(1)));
    socket.write(first);
    await expect.poll(() => server.messages().length).toBe(1);
    socket.write(Buffer.concat([first, openerFrame(key, 1, body(heartbeat(2)))]));
    await closedWithin(closed);
    expect(server.messages()).toEqual([{ from: 'n2', gm: heartbeat(1) }]);
  });

  it('a frame declaring more than bodyBytesMax closes the stream before its body is read', async () => {
    const server = await startPeerServer();
    const { socket, key, closed } = await openByHand(server.port);
    const oversized = Buffer.alloc(bodyBytesMax + 1);
    socket.write(openerFrame(key, 0, oversized).subarray(0, 20));
    await closedWithin(closed);
    expect(server.messages()).toEqual([]);
  });

  it('a frame with the right MAC that does not decode closes the stream and is logged', async () => {
    const server = await startPeerServer();
    const { socket, key, closed } = await openByHand(server.port);
    socket.write(openerFrame(key, 0, Buffer.from('not msgpack at all')));
    await closedWithin(closed);
    expect(server.messages()).toEqual([]);
    expect(said(server.lines, 'refused peer request').map((l) => l.reason)).toEqual(['body is not msgpack']);
  });
});
