import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { peerAuthHeader, peerMac } from '../../../src/transport/peer-auth.js';
import { batchPath, snapshotPath } from '../../../src/transport/peer-link.js';
import { buildPeerServer } from '../../../src/transport/peer-server.js';
import type { GroupMessage } from '../../../src/transport/wire.js';
import { encodeBatch, encodeSnapshotChunk, wireVersion } from '../../../src/transport/wire.js';

const received: { from: string; msgs: readonly GroupMessage[] }[] = [];
const lines: string[] = [];
const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
const secret = 'the-cluster-secret-of-c1';
const app = () =>
  buildPeerServer({
    clusterId: 'c1',
    self: 'n1',
    secret,
    peers: new Set(['n2', 'n3']),
    sink: (from, msgs) => void received.push({ from, msgs }),
    claims: async () => 'new',
    log,
    bodyBytesMax: 4096,
    messagesMax: 100,
    snapshotBytesMax: 1000,
  });
/** Posts `payload` signed with `key` (the cluster secret unless given; null: unsigned). */
const post = (
  a: ReturnType<typeof app>,
  url: string,
  payload: Uint8Array | string,
  key: string | null = secret,
) => {
  const body = Buffer.from(payload);
  const auth = key === null ? {} : { [peerAuthHeader]: peerMac(key, url, body) };
  return a.inject({
    method: 'POST',
    url,
    payload: body,
    headers: { 'content-type': 'application/msgpack', ...auth },
  });
};

afterEach(() => {
  received.length = 0;
  lines.length = 0;
});

const heartbeat = { type: 'heartbeat' as const, from: 'n2', to: 'n1', term: 2, commit: 5, read: 0 };

describe('the peer port', () => {
  it('steps a valid batch and answers 204', async () => {
    const a = app();
    const res = await post(
      a,
      batchPath,
      encodeBatch({ v: wireVersion, cluster: 'c1', from: 'n2', msgs: [{ group: 1, msg: heartbeat }] }),
    );
    expect(res.statusCode).toBe(204);
    expect(received).toEqual([{ from: 'n2', msgs: [{ group: 1, msg: heartbeat }] }]);
  });

  it('refuses unsigned, wrongly signed and altered requests with 401 before decoding, logging once', async () => {
    const a = app();
    const batch = encodeBatch({
      v: wireVersion,
      cluster: 'c1',
      from: 'n2',
      msgs: [{ group: 1, msg: heartbeat }],
    });
    expect((await post(a, batchPath, batch, null)).statusCode).toBe(401);
    expect((await post(a, batchPath, batch, 'another-secret-entirely')).statusCode).toBe(401);
    const forged = await a.inject({
      method: 'POST',
      url: batchPath,
      payload: Buffer.from(batch),
      headers: { 'content-type': 'application/msgpack', [peerAuthHeader]: 'z'.repeat(64) },
    });
    expect(forged.statusCode).toBe(401);
    // A MAC taken for one body does not cover another: a message altered in flight is refused.
    const altered = await a.inject({
      method: 'POST',
      url: batchPath,
      payload: Buffer.from(
        encodeBatch({
          v: wireVersion,
          cluster: 'c1',
          from: 'n2',
          msgs: [{ group: 1, msg: { ...heartbeat, term: 99 } }],
        }),
      ),
      headers: { 'content-type': 'application/msgpack', [peerAuthHeader]: peerMac(secret, batchPath, batch) },
    });
    expect(altered.statusCode).toBe(401);
    // A MAC for the batch path does not cover the snapshot path.
    const moved = await a.inject({
      method: 'POST',
      url: snapshotPath,
      payload: Buffer.from(batch),
      headers: { 'content-type': 'application/msgpack', [peerAuthHeader]: peerMac(secret, batchPath, batch) },
    });
    expect(moved.statusCode).toBe(401);
    expect(received).toEqual([]);
    expect(lines.filter((l) => l.includes('refused peer request'))).toHaveLength(1);
    expect((await post(a, batchPath, batch)).statusCode).toBe(204);
  });

  it('answers garbage with 400, logs it once per sender, and steps nothing', async () => {
    const a = app();
    for (let i = 0; i < 3; i++) expect((await post(a, batchPath, 'not msgpack at all')).statusCode).toBe(400);
    expect(received).toEqual([]);
    expect(lines.filter((l) => l.includes('refused peer request'))).toHaveLength(1);
  });

  it('refuses a batch from another cluster or an unknown sender with 403', async () => {
    const a = app();
    const other = await post(
      a,
      batchPath,
      encodeBatch({ v: wireVersion, cluster: 'c2', from: 'n2', msgs: [{ group: 1, msg: heartbeat }] }),
    );
    expect(other.statusCode).toBe(403);
    expect(other.json()).toEqual({ error: 'cluster id c2 is not c1' });
    const stranger = await post(
      a,
      batchPath,
      encodeBatch({ v: wireVersion, cluster: 'c1', from: 'n9', msgs: [] }),
    );
    expect(stranger.statusCode).toBe(403);
    expect(received).toEqual([]);
  });

  it('refuses an oversized body with 413', async () => {
    const res = await post(app(), batchPath, new Uint8Array(5000));
    expect(res.statusCode).toBe(413);
    expect(received).toEqual([]);
  });

  it('assembles a snapshot from chunks in order and steps it once complete', async () => {
    const a = app();
    const base = {
      v: wireVersion,
      cluster: 'c1',
      from: 'n2',
      group: 0,
      header: {
        from: 'n2',
        to: 'n1',
        term: 3,
        meta: { index: 40, term: 2, voters: ['n1', 'n2', 'n3'], learners: [] },
      },
      total: 6,
    };
    const first = await post(
      a,
      snapshotPath,
      encodeSnapshotChunk({ ...base, offset: 0, chunk: new Uint8Array([1, 2, 3]), done: false }),
    );
    expect(first.statusCode).toBe(204);
    expect(received).toEqual([]);
    const outOfOrder = await post(
      a,
      snapshotPath,
      encodeSnapshotChunk({ ...base, offset: 4, chunk: new Uint8Array([9]), done: false }),
    );
    expect(outOfOrder.statusCode).toBe(409);
    await post(
      a,
      snapshotPath,
      encodeSnapshotChunk({ ...base, offset: 0, chunk: new Uint8Array([1, 2, 3]), done: false }),
    );
    const last = await post(
      a,
      snapshotPath,
      encodeSnapshotChunk({ ...base, offset: 3, chunk: new Uint8Array([4, 5, 6]), done: true }),
    );
    expect(last.statusCode).toBe(204);
    expect(received).toHaveLength(1);
    const msg = received[0]!.msgs[0]!.msg;
    expect(msg.type === 'snapshot' && [...msg.snapshot.data]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(msg.type === 'snapshot' && msg.snapshot.meta).toEqual({
      index: 40,
      term: 2,
      voters: ['n1', 'n2', 'n3'],
      learners: [],
    });
  });

  it('refuses a snapshot larger than the limit with 413', async () => {
    const res = await post(
      app(),
      snapshotPath,
      encodeSnapshotChunk({
        v: wireVersion,
        cluster: 'c1',
        from: 'n2',
        group: 0,
        header: { from: 'n2', to: 'n1', term: 3, meta: { index: 40, term: 2, voters: ['n1'], learners: [] } },
        total: 5000,
        offset: 0,
        chunk: new Uint8Array([1]),
        done: false,
      }),
    );
    expect(res.statusCode).toBe(413);
  });
});
