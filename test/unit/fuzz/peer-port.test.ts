/**
 * Fuzzing the peer port through fastify's inject (issue #8): any authenticated body that is not
 * a valid batch or chunk from a member of this cluster (random bytes, damaged encodings, wrong
 * fields, strangers, oversized, odd content types) gets a 4xx, never a 5xx, and Raft receives
 * nothing; a valid batch without the right MAC gets 401 and Raft receives nothing; after all of
 * it the port still takes a valid request.
 */

import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { peerAuthHeader, peerMac } from '../../../src/transport/peer-auth.js';
import { batchPath, snapshotPath } from '../../../src/transport/peer-link.js';
import { buildPeerServer, type PeerServerOptions } from '../../../src/transport/peer-server.js';
import {
  decodeBatch,
  encodeBatch,
  encodeSnapshotChunk,
  type GroupMessage,
  type PeerBatch,
  wireVersion,
} from '../../../src/transport/wire.js';
import { batchArb, expectSameWire, messageArb, snapshotChunkArb, tryPack } from './arbitraries.js';
import { fuzzBudget, fuzzRuns } from './budget.js';
import { badValueArb, batchFields, replaceAt } from './wire-mutations.js';

const runs = fuzzRuns.peerPort;
/** Counts the cases each property completes; the file fails if one runs other than its share. */
const fuzz = fuzzBudget('peerPort');
const secret = 'fuzz-secret-0123456789abcdef';
const bodyBytesMax = 4096;
const messagesMax = 8;
const members = ['n2', 'n3'];

const received: { from: string; msgs: readonly GroupMessage[] }[] = [];

function peerServer(): FastifyInstance {
  const options: PeerServerOptions = {
    clusterId: 'c1',
    self: 'n1',
    peers: new Set(members),
    sink: (from, msgs) => void received.push({ from, msgs }),
    claims: async () => 'new',
    log: pino({ level: 'silent' }),
    bodyBytesMax,
    messagesMax,
    snapshotBytesMax: 1 << 16,
    secret,
  };
  return buildPeerServer(options);
}

type Mac = 'right' | 'none' | 'otherSecret' | 'otherPath' | 'otherBody' | 'uppercase' | 'garbage';

function post(
  app: FastifyInstance,
  url: string,
  body: Uint8Array,
  o: { type?: string | null; mac?: Mac; garbage?: string } = {},
) {
  const headers: Record<string, string> = {};
  const type = o.type === undefined ? 'application/msgpack' : o.type;
  if (type !== null) headers['content-type'] = type;
  switch (o.mac ?? 'right') {
    case 'right':
      headers[peerAuthHeader] = peerMac(secret, url, body);
      break;
    case 'none':
      break;
    case 'otherSecret':
      headers[peerAuthHeader] = peerMac(`${secret}!`, url, body);
      break;
    case 'otherPath':
      headers[peerAuthHeader] = peerMac(secret, url === batchPath ? snapshotPath : batchPath, body);
      break;
    case 'otherBody':
      headers[peerAuthHeader] = peerMac(secret, url, Buffer.concat([body, Buffer.from([0])]));
      break;
    case 'uppercase':
      headers[peerAuthHeader] = peerMac(secret, url, body).toUpperCase();
      break;
    case 'garbage':
      headers[peerAuthHeader] = o.garbage ?? '';
      break;
  }
  return app.inject({ method: 'POST', url, payload: Buffer.from(body), headers });
}

/** A batch from a member, to us, that every layer accepts (within the body limit too). */
const validBatchArb: fc.Arbitrary<PeerBatch> = fc
  .record({
    v: fc.constant(wireVersion),
    cluster: fc.constant('c1'),
    from: fc.constantFrom(...members),
    msgs: fc.array(
      fc.record({ group: fc.nat(8), msg: messageArb({ ids: fc.constantFrom('n1', ...members) }) }),
      {
        maxLength: 3,
      },
    ),
  })
  .filter((b) => encodeBatch(b).byteLength <= bodyBytesMax);

/** Authenticated bodies for the batch route that must all be refused. */
const badBatchBodyArb: fc.Arbitrary<{ body: Uint8Array; type: string | null }> = fc.oneof(
  fc.record({ body: fc.uint8Array({ maxLength: 300 }), type: fc.constant('application/msgpack') }),
  // Damaged valid encodings: cut short, or bits flipped with the MAC made over the damage.
  fc.tuple(validBatchArb, fc.nat(), fc.boolean()).map(([b, n, cut]) => {
    const body = Uint8Array.from(encodeBatch(b));
    if (cut) return { body: body.subarray(0, n % body.length), type: 'application/msgpack' };
    body[n % body.length]! ^= 0xff;
    return { body, type: 'application/msgpack' };
  }),
  // One required field wrong.
  validBatchArb
    .filter((b) => b.msgs.length > 0)
    .chain((b) =>
      fc.constantFrom(...batchFields(b)).chain((f) => badValueArb(f.kind).map((bad) => ({ b, f, bad }))),
    )
    .map(({ b, f, bad }) => ({
      body: tryPack(replaceAt(b, f.path, bad)) ?? new Uint8Array([0xc1]),
      type: 'application/msgpack',
    })),
  // Well formed but from another cluster, a stranger, ourselves, or too many messages.
  fc
    .tuple(
      batchArb(messagesMax),
      fc.constantFrom('c2', '', 'C1'),
      fc.constantFrom('n1', 'n9', '', 'N2'),
      fc.nat(2),
    )
    .map(([b, cluster, from, which]) => {
      const wrong =
        which === 0
          ? { ...b, cluster }
          : which === 1
            ? { ...b, cluster: 'c1', from }
            : {
                ...b,
                cluster: 'c1',
                from: 'n2',
                msgs: Array.from(
                  { length: messagesMax + 1 },
                  () =>
                    b.msgs[0] ?? {
                      group: 0,
                      msg: { type: 'timeoutNow' as const, from: 'n2', to: 'n1', term: 1 },
                    },
                ),
              };
      return { body: encodeBatch(wrong), type: 'application/msgpack' };
    }),
  // Over the body limit, or not msgpack at all.
  fc.record({
    body: fc.uint8Array({ minLength: bodyBytesMax + 1, maxLength: bodyBytesMax + 64 }),
    type: fc.constant('application/msgpack'),
  }),
  fc.record({
    body: fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.json().map((j) => new TextEncoder().encode(j)),
    ),
    type: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', null),
  }),
);

let app: FastifyInstance;

beforeAll(async () => {
  app = peerServer();
  await app.ready();
});

afterAll(async () => {
  await app.close();
});

beforeEach(() => {
  received.length = 0;
});

/** The port still takes a valid batch and hands it to Raft exactly. */
async function expectStillServing(): Promise<void> {
  received.length = 0;
  const heartbeat = { type: 'heartbeat' as const, from: 'n2', to: 'n1', term: 7, commit: 3, read: 0 };
  const res = await post(
    app,
    batchPath,
    encodeBatch({ v: wireVersion, cluster: 'c1', from: 'n2', msgs: [{ group: 1, msg: heartbeat }] }),
  );
  expect(res.statusCode).toBe(204);
  expect(received).toEqual([{ from: 'n2', msgs: [{ group: 1, msg: heartbeat }] }]);
}

/**
 * What the batch route must do with an authenticated body: take it (204, exactly the decoded
 * batch to Raft) only when it is msgpack within the limit, decodes, and comes from a member of
 * this cluster; anything else is refused with a 4xx and Raft hears nothing.
 */
function expectedBatch(body: Uint8Array, type: string | null): PeerBatch | null {
  if (type !== 'application/msgpack' || body.byteLength > bodyBytesMax) return null;
  const d = decodeBatch(body, { messagesMax });
  return d.ok && d.value.cluster === 'c1' && members.includes(d.value.from) ? d.value : null;
}

describe('the peer port under fuzzing', () => {
  it('answers authenticated garbage on the batch route with a 4xx and hands Raft nothing', async () => {
    let refused = 0;
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(
        badBatchBodyArb,
        fuzz.counted('batchGarbage', async ({ body, type }) => {
          received.length = 0;
          const res = await post(app, batchPath, body, { type });
          const expected = expectedBatch(body, type);
          if (expected !== null) {
            // A flipped bit can leave a valid batch behind: then it must arrive exactly.
            expect(res.statusCode).toBe(204);
            expectSameWire(received, [{ from: expected.from, msgs: expected.msgs }]);
            return;
          }
          refused++;
          statuses.add(res.statusCode);
          expect(res.statusCode).toBeGreaterThanOrEqual(400);
          expect(res.statusCode).toBeLessThan(500);
          expect(received).toEqual([]);
        }),
      ),
      fuzz.params('batchGarbage'),
    );
    expect(refused).toBeGreaterThan(runs.batchGarbage * 0.9);
    // Every kind of refusal was exercised: malformed (400), stranger (403), oversized (413).
    expect([...statuses]).toEqual(expect.arrayContaining([400, 403, 413]));
    await expectStillServing();
  });

  it('hands every valid authenticated batch to Raft exactly, with 204', async () => {
    await fc.assert(
      fc.asyncProperty(
        validBatchArb,
        fuzz.counted('batchValid', async (batch) => {
          received.length = 0;
          const res = await post(app, batchPath, encodeBatch(batch));
          expect(res.statusCode).toBe(204);
          expectSameWire(received, [{ from: batch.from, msgs: batch.msgs }]);
        }),
      ),
      fuzz.params('batchValid'),
    );
  });

  it('answers authenticated garbage and stray chunks on the snapshot route with a 4xx or an accepted partial chunk', async () => {
    const chunkBodyArb = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      snapshotChunkArb.map((c) => encodeSnapshotChunk({ ...c, cluster: 'c1', from: 'n2' })),
      snapshotChunkArb.map(encodeSnapshotChunk),
      snapshotChunkArb.map((c) => {
        const body = Uint8Array.from(encodeSnapshotChunk({ ...c, cluster: 'c1', from: 'n3' }));
        body[c.offset % body.length]! ^= 0x5a;
        return body;
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        chunkBodyArb,
        fuzz.counted('snapshotGarbage', async (body) => {
          received.length = 0;
          const res = await post(app, snapshotPath, body);
          if (res.statusCode === 204) {
            // Accepted as one piece of a snapshot; Raft hears of it only with the last piece.
            for (const r of received) {
              expect(r.msgs).toHaveLength(1);
              expect(r.msgs[0]!.msg.type).toBe('snapshot');
            }
            return;
          }
          expect(res.statusCode).toBeGreaterThanOrEqual(400);
          expect(res.statusCode).toBeLessThan(500);
          expect(received).toEqual([]);
        }),
      ),
      fuzz.params('snapshotGarbage'),
    );
    await expectStillServing();
  });

  it('answers a valid batch without the right MAC with 401 and hands Raft nothing', async () => {
    const macArb = fc.oneof(
      fc.constantFrom<Mac>('none', 'otherSecret', 'otherPath', 'otherBody', 'uppercase'),
      fc.constant<Mac>('garbage'),
    );
    const garbageArb = fc.oneof(
      fc.stringMatching(/^[0-9a-f]{64}$/),
      fc.string({ maxLength: 80 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
      fc.constantFrom('', '0'.repeat(64), `${'0'.repeat(63)}g`, '0'.repeat(65)),
    );
    await fc.assert(
      fc.asyncProperty(
        validBatchArb,
        macArb,
        garbageArb,
        fc.constantFrom(batchPath, snapshotPath),
        fuzz.counted('unauthenticated', async (batch, mac, garbage, url) => {
          received.length = 0;
          const body =
            url === batchPath
              ? encodeBatch(batch)
              : encodeSnapshotChunk({
                  v: wireVersion,
                  cluster: 'c1',
                  from: batch.from,
                  group: 0,
                  header: {
                    from: batch.from,
                    to: 'n1',
                    term: 3,
                    meta: { index: 4, term: 2, voters: ['n1', ...members], learners: [] },
                  },
                  offset: 0,
                  total: 1,
                  chunk: new Uint8Array([7]),
                  done: true,
                });
          const res = await post(app, url, body, { mac, garbage });
          expect(res.statusCode).toBe(401);
          expect(received).toEqual([]);
        }),
      ),
      fuzz.params('unauthenticated'),
    );
    await expectStillServing();
  });
});
