import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { Entry, Message } from '../../../src/raft/types.js';
import {
  decodeBatch,
  decodeSnapshotChunk,
  encodeBatch,
  encodeSnapshotChunk,
  type PeerBatch,
  wireVersion,
} from '../../../src/transport/wire.js';

const limits = { messagesMax: 1000 };
const id = fc.constantFrom('n1', 'n2', 'n3');
const nat = fc.nat({ max: 2 ** 40 });
const entry: fc.Arbitrary<Entry> = fc.record({
  index: nat,
  term: nat,
  kind: fc.constantFrom('command' as const, 'noop' as const),
  data: fc.uint8Array({ maxLength: 64 }),
});
const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    type: fc.constant('requestVote' as const),
    from: id,
    to: id,
    term: nat,
    pre: fc.boolean(),
    lastIndex: nat,
    lastTerm: nat,
    transfer: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('voteReply' as const),
    from: id,
    to: id,
    term: nat,
    pre: fc.boolean(),
    granted: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('append' as const),
    from: id,
    to: id,
    term: nat,
    prevIndex: nat,
    prevTerm: nat,
    entries: fc.array(entry, { maxLength: 5 }),
    commit: nat,
  }),
  fc.record({
    type: fc.constant('appendReply' as const),
    from: id,
    to: id,
    term: nat,
    index: nat,
    ok: fc.boolean(),
    hint: fc.option(fc.record({ index: nat, term: nat }), { nil: null }),
  }),
  fc.record({ type: fc.constant('heartbeat' as const), from: id, to: id, term: nat, commit: nat, read: nat }),
  fc.record({ type: fc.constant('heartbeatReply' as const), from: id, to: id, term: nat, read: nat }),
  fc.record({ type: fc.constant('timeoutNow' as const), from: id, to: id, term: nat }),
  fc.record({
    type: fc.constant('snapshot' as const),
    from: id,
    to: id,
    term: nat,
    snapshot: fc.record({
      meta: fc.record({
        index: nat,
        term: nat,
        voters: fc.array(id, { maxLength: 3 }),
        learners: fc.array(id, { maxLength: 2 }),
      }),
      data: fc.uint8Array({ maxLength: 64 }),
    }),
  }),
);

/** Byte arrays of any class (Buffer, Uint8Array) compare by content. */
const plain = (x: unknown): unknown =>
  JSON.parse(
    JSON.stringify(x, (_k, v) => {
      if (v instanceof Uint8Array) return [...v];
      // Buffer's toJSON runs before the replacer sees it.
      if (typeof v === 'object' && v !== null && v.type === 'Buffer' && Array.isArray(v.data)) return v.data;
      return v;
    }),
  );

describe('peer wire format', () => {
  it('round-trips every message kind exactly', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ group: fc.nat({ max: 1000 }), msg: message }), { maxLength: 20 }),
        (msgs) => {
          const batch: PeerBatch = { v: wireVersion, cluster: 'c1', from: 'n1', msgs };
          const decoded = decodeBatch(encodeBatch(batch), limits);
          expect(decoded.ok).toBe(true);
          if (decoded.ok) expect(plain(decoded.value)).toEqual(plain(batch));
        },
      ),
    );
  });

  it('never throws on random bytes, and refuses them with a reason', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const decoded = decodeBatch(bytes, limits);
        if (!decoded.ok) expect(decoded.reason.length).toBeGreaterThan(0);
      }),
    );
  });

  it('refuses truncated batches', () => {
    const bytes = encodeBatch({
      v: wireVersion,
      cluster: 'c1',
      from: 'n1',
      msgs: [{ group: 0, msg: { type: 'heartbeat', from: 'n1', to: 'n2', term: 3, commit: 7, read: 0 } }],
    });
    for (let cut = 0; cut < bytes.length; cut++)
      expect(decodeBatch(bytes.subarray(0, cut), limits).ok).toBe(false);
  });

  it.each([
    [
      'an unknown message kind',
      { type: 'installConfig', from: 'n1', to: 'n2', term: 1 },
      'unknown message type "installConfig"',
    ],
    [
      'a negative term',
      { type: 'heartbeat', from: 'n1', to: 'n2', term: -1, commit: 0, read: 0 },
      'term is not a non-negative integer',
    ],
    [
      'a huge index',
      { type: 'heartbeat', from: 'n1', to: 'n2', term: 1, commit: 2 ** 60, read: 0 },
      'commit is not a non-negative integer',
    ],
    [
      'a string where a number belongs',
      { type: 'heartbeatReply', from: 'n1', to: 'n2', term: '1', read: 0 },
      'term is not a non-negative integer',
    ],
    [
      'entry data that is not bytes',
      {
        type: 'append',
        from: 'n1',
        to: 'n2',
        term: 1,
        prevIndex: 0,
        prevTerm: 0,
        commit: 0,
        entries: [{ index: 1, term: 1, kind: 'command', data: 'x' }],
      },
      'entry.data is not bytes',
    ],
  ])('refuses %s', (_what, msg, reason) => {
    const bytes = new Packr({ useRecords: false }).pack({
      v: wireVersion,
      cluster: 'c1',
      from: 'n1',
      msgs: [{ group: 0, msg }],
    });
    expect(decodeBatch(bytes, limits)).toEqual({ ok: false, reason });
  });

  it('refuses another wire version and more messages than the limit', () => {
    const packr = new Packr({ useRecords: false });
    expect(decodeBatch(packr.pack({ v: 2, cluster: 'c', from: 'n1', msgs: [] }), limits)).toEqual({
      ok: false,
      reason: `wire version 2 is not ${wireVersion}`,
    });
    const many = Array.from({ length: 3 }, () => ({
      group: 0,
      msg: { type: 'timeoutNow', from: 'n1', to: 'n2', term: 1 },
    }));
    expect(
      decodeBatch(packr.pack({ v: wireVersion, cluster: 'c', from: 'n1', msgs: many }), { messagesMax: 2 }),
    ).toEqual({
      ok: false,
      reason: 'more than 2 messages',
    });
  });

  it('round-trips snapshot chunks and refuses a chunk past its total', () => {
    const chunk = {
      v: wireVersion,
      cluster: 'c1',
      from: 'n1',
      group: 2,
      header: {
        from: 'n1',
        to: 'n2',
        term: 4,
        meta: { index: 90, term: 3, voters: ['n1', 'n2', 'n3'], learners: [] },
      },
      offset: 4,
      total: 8,
      chunk: new Uint8Array([1, 2, 3, 4]),
      done: true,
    };
    const decoded = decodeSnapshotChunk(encodeSnapshotChunk(chunk));
    expect(decoded.ok && plain(decoded.value)).toEqual(plain(chunk));
    expect(decodeSnapshotChunk(encodeSnapshotChunk({ ...chunk, total: 6 }))).toEqual({
      ok: false,
      reason: 'chunk beyond total',
    });
  });
});
