/**
 * PeerPresence (a peer is gone when its last connection either way was closed or refused by its
 * side), alone and on real streams: a stream ended by the other side's FIN is seen on both ends
 * (an HTTP server's sockets are half-open, so the accepting end hears only 'end'), while a stream
 * this side closed itself, or one that merely fell silent, reports nobody gone.
 */

import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../harness/index.js';
import { PeerPresence } from '../../../src/transport/peer-presence.js';
import { buildPeerServer } from '../../../src/transport/peer-server.js';
import { closeAll, closeLater, heartbeat, link, secret } from './stream-harness.js';

afterEach(closeAll);

describe('PeerPresence', () => {
  it('reports a peer gone once its last connection either way ended by its side', () => {
    const gone: string[] = [];
    const p = new PeerPresence((peer) => gone.push(peer));
    p.outgoingOpen('n2');
    p.incomingOpen('n2');
    p.incomingOpen('n2');
    p.incomingLost('n2', true);
    p.outgoingLost('n2', true);
    expect(gone).toEqual([]);
    p.incomingLost('n2', true);
    expect(gone).toEqual(['n2']);
    // Refused again and again afterwards: reported once, not on every refusal.
    p.outgoingLost('n2', true);
    p.outgoingLost('n2', true);
    expect(gone).toEqual(['n2']);
  });

  it('reports nobody when this side closed the last connection, or it fell silent', () => {
    const gone: string[] = [];
    const p = new PeerPresence((peer) => gone.push(peer));
    p.outgoingOpen('n2');
    p.outgoingLost('n2', false);
    p.incomingOpen('n3');
    p.incomingLost('n3', false);
    expect(gone).toEqual([]);
  });

  it('hears on both ends of a real stream which side ended it', async () => {
    const goneAtServer: string[] = [];
    const goneAtLink: string[] = [];
    const received: unknown[] = [];
    const app = buildPeerServer({
      clusterId: 'c1',
      self: 'n1',
      secret,
      peers: new Set(['n2']),
      sink: (_from, msgs) => void received.push(...msgs),
      presence: new PeerPresence((peer) => goneAtServer.push(peer)),
      claims: async () => 'new',
      log: pino({ level: 'silent' }),
      bodyBytesMax: 64 * 1024,
      messagesMax: 1_000,
      snapshotBytesMax: 1_000,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    closeLater(() => app.close());
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

    // n2 closes its own stream: the server hears n2's FIN and calls n2 gone; n2 calls nobody gone.
    const first = link(url, { presence: new PeerPresence((peer) => goneAtLink.push(peer)) });
    first.enqueue([heartbeat(1)]);
    await waitFor(async () => received.length === 1, {
      timeoutMs: 5_000,
      intervalMs: 10,
      what: 'the heartbeat',
    });
    await first.close();
    await waitFor(async () => goneAtServer.length === 1, {
      timeoutMs: 5_000,
      intervalMs: 10,
      what: 'n2 gone',
    });
    expect({ goneAtServer, goneAtLink }).toEqual({ goneAtServer: ['n2'], goneAtLink: [] });

    // The server goes away: a second link hears its stream closed by the other side.
    const second = link(url, { presence: new PeerPresence((peer) => goneAtLink.push(peer)) });
    second.enqueue([heartbeat(2)]);
    await waitFor(async () => received.length === 2, {
      timeoutMs: 5_000,
      intervalMs: 10,
      what: 'the heartbeat',
    });
    await app.close();
    await waitFor(async () => goneAtLink.length === 1, { timeoutMs: 5_000, intervalMs: 10, what: 'n1 gone' });
    expect(goneAtLink).toEqual(['n1']);
  });
});
