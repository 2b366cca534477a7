/**
 * The peer wire format: a batch of Raft messages for one destination node, msgpack-encoded,
 * stamped with the cluster id and the sender. Decoding validates every field; anything
 * malformed is refused as a whole with a reason and never reaches Raft.
 */

import { Packr } from 'msgpackr';
import type { Entry, Message, Snapshot } from '../raft/types.js';

/** The wire format's version; a peer speaking another is refused. */
export const wireVersion = 1;

export interface GroupMessage {
  readonly group: number;
  readonly msg: Message;
}

export interface PeerBatch {
  readonly v: number;
  readonly cluster: string;
  readonly from: string;
  readonly msgs: readonly GroupMessage[];
}

const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number' });

export function encodeBatch(batch: PeerBatch): Uint8Array {
  return packr.pack(batch);
}

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string };

class WireError extends Error {}

/** Decodes and validates a peer batch; never throws. */
export function decodeBatch(body: Uint8Array, limits: { readonly messagesMax: number }): Decoded<PeerBatch> {
  return decodeVersioned(body, 'batch', (o, v) => {
    const msgs = arr(o.msgs, 'msgs');
    if (msgs.length > limits.messagesMax) throw new WireError(`more than ${limits.messagesMax} messages`);
    return { v, cluster: str(o.cluster, 'cluster'), from: str(o.from, 'from'), msgs: msgs.map(groupMessage) };
  });
}

/** Unpacks a versioned msgpack object and validates it with `read`; never throws on bad input. */
function decodeVersioned<T>(
  body: Uint8Array,
  what: string,
  read: (o: Record<string, unknown>, v: number) => T,
): Decoded<T> {
  let raw: unknown;
  try {
    raw = packr.unpack(body);
  } catch {
    return { ok: false, reason: 'body is not msgpack' };
  }
  try {
    const o = obj(raw, what);
    const v = int(o.v, 'v');
    if (v !== wireVersion) throw new WireError(`wire version ${v} is not ${wireVersion}`);
    return { ok: true, value: read(o, v) };
  } catch (err) {
    if (err instanceof WireError) return { ok: false, reason: err.message };
    throw err;
  }
}

function groupMessage(raw: unknown): GroupMessage {
  const o = obj(raw, 'message');
  return { group: int(o.group, 'group'), msg: message(obj(o.msg, 'msg')) };
}

/** Rebuilds a Message field by field, so nothing but known fields of the right types gets through. */
function message(o: Record<string, unknown>): Message {
  const env = { from: str(o.from, 'from'), to: str(o.to, 'to'), term: int(o.term, 'term') };
  const type = o.type;
  switch (type) {
    case 'requestVote':
      return {
        ...env,
        type,
        pre: bool(o.pre, 'pre'),
        lastIndex: int(o.lastIndex, 'lastIndex'),
        lastTerm: int(o.lastTerm, 'lastTerm'),
        transfer: bool(o.transfer, 'transfer'),
      };
    case 'voteReply':
      return { ...env, type, pre: bool(o.pre, 'pre'), granted: bool(o.granted, 'granted') };
    case 'append':
      return {
        ...env,
        type,
        prevIndex: int(o.prevIndex, 'prevIndex'),
        prevTerm: int(o.prevTerm, 'prevTerm'),
        entries: arr(o.entries, 'entries').map(entry),
        commit: int(o.commit, 'commit'),
      };
    case 'appendReply': {
      const hint = o.hint === null ? null : obj(o.hint, 'hint');
      return {
        ...env,
        type,
        index: int(o.index, 'index'),
        ok: bool(o.ok, 'ok'),
        hint:
          hint === null ? null : { index: int(hint.index, 'hint.index'), term: int(hint.term, 'hint.term') },
      };
    }
    case 'heartbeat':
      return { ...env, type, commit: int(o.commit, 'commit'), read: int(o.read, 'read') };
    case 'heartbeatReply':
      return { ...env, type, read: int(o.read, 'read') };
    case 'snapshot':
      return { ...env, type, snapshot: snapshot(obj(o.snapshot, 'snapshot')) };
    case 'timeoutNow':
      return { ...env, type };
    default:
      // Not JSON.stringify(type) alone: msgpack can carry a BigInt, which it cannot serialise.
      throw new WireError(
        `unknown message type ${typeof type === 'string' ? JSON.stringify(type) : `of type ${typeof type}`}`,
      );
  }
}

function entry(raw: unknown): Entry {
  const o = obj(raw, 'entry');
  const kind = o.kind;
  if (kind !== 'command' && kind !== 'noop' && kind !== 'config') throw new WireError('entry kind');
  return {
    index: int(o.index, 'entry.index'),
    term: int(o.term, 'entry.term'),
    kind,
    data: bytes(o.data, 'entry.data'),
  };
}

function snapshot(o: Record<string, unknown>): Snapshot {
  const meta = obj(o.meta, 'snapshot.meta');
  return {
    meta: {
      index: int(meta.index, 'snapshot.index'),
      term: int(meta.term, 'snapshot.term'),
      voters: arr(meta.voters, 'snapshot.voters').map((v) => str(v, 'voter')),
      learners: arr(meta.learners, 'snapshot.learners').map((v) => str(v, 'learner')),
    },
    data: bytes(o.data, 'snapshot.data'),
  };
}

function obj(x: unknown, what: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || x instanceof Uint8Array) {
    throw new WireError(`${what} is not an object`);
  }
  return x as Record<string, unknown>;
}

function arr(x: unknown, what: string): unknown[] {
  if (!Array.isArray(x)) throw new WireError(`${what} is not an array`);
  return x;
}

function str(x: unknown, what: string): string {
  if (typeof x !== 'string' || x.length > 1024) throw new WireError(`${what} is not a string`);
  return x;
}

function int(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0)
    throw new WireError(`${what} is not a non-negative integer`);
  return x;
}

function bool(x: unknown, what: string): boolean {
  if (typeof x !== 'boolean') throw new WireError(`${what} is not a boolean`);
  return x;
}

function bytes(x: unknown, what: string): Uint8Array {
  if (!(x instanceof Uint8Array)) throw new WireError(`${what} is not bytes`);
  return x;
}

/**
 * A call one node makes of another over the peer stream (peer-stream.ts), or its answer. The
 * payload is the node layer's business; the transport only carries it and pairs answers with
 * calls by id. An answer with `error` set says the callee could not handle the call at all.
 */
export interface StreamCall {
  readonly id: number;
  readonly payload: Uint8Array;
}

export interface StreamAnswer {
  readonly id: number;
  readonly payload: Uint8Array | null;
  readonly error: string | null;
}

/** What a node says of itself to its peers (so far only that it is stopping). */
export type PeerNotice = 'stopping';
const peerNotices: readonly PeerNotice[] = ['stopping'];

/** What one frame of a peer stream carries: Raft messages, calls, answers to calls, notices. */
export interface StreamFrame {
  readonly msgs: readonly GroupMessage[];
  readonly calls: readonly StreamCall[];
  readonly answers: readonly StreamAnswer[];
  /** Absent from most frames. */
  readonly notices?: readonly PeerNotice[];
}

export function encodeFrame(f: StreamFrame): Uint8Array {
  return f.notices === undefined || f.notices.length === 0
    ? packr.pack({ v: wireVersion, m: f.msgs, c: f.calls, a: f.answers })
    : packr.pack({ v: wireVersion, m: f.msgs, c: f.calls, a: f.answers, n: f.notices });
}

/** Decodes and validates one stream frame; never throws. */
export function decodeFrame(
  body: Uint8Array,
  limits: { readonly messagesMax: number },
): Decoded<StreamFrame> {
  return decodeVersioned(body, 'frame', (o) => {
    const msgs = arr(o.m, 'm');
    const calls = arr(o.c, 'c');
    const answers = arr(o.a, 'a');
    if (msgs.length + calls.length + answers.length > limits.messagesMax)
      throw new WireError(`more than ${limits.messagesMax} messages`);
    const notices = o.n === undefined ? [] : arr(o.n, 'n');
    return {
      notices: notices.map((n) => {
        if (!peerNotices.includes(n as PeerNotice)) throw new WireError('unknown notice');
        return n as PeerNotice;
      }),
      msgs: msgs.map(groupMessage),
      calls: calls.map((raw) => {
        const c = obj(raw, 'call');
        return { id: int(c.id, 'call.id'), payload: bytes(c.payload, 'call.payload') };
      }),
      answers: answers.map((raw) => {
        const a = obj(raw, 'answer');
        return {
          id: int(a.id, 'answer.id'),
          payload: a.payload === null ? null : bytes(a.payload, 'answer.payload'),
          error: a.error === null ? null : str(a.error, 'answer.error'),
        };
      }),
    };
  });
}

/** One piece of a snapshot on its way to a follower; pieces arrive in order, `done` on the last. */
export interface SnapshotChunk {
  readonly v: number;
  readonly cluster: string;
  readonly from: string;
  readonly group: number;
  readonly header: {
    readonly from: string;
    readonly to: string;
    readonly term: number;
    readonly meta: Snapshot['meta'];
  };
  readonly offset: number;
  readonly total: number;
  readonly chunk: Uint8Array;
  readonly done: boolean;
}

export function encodeSnapshotChunk(c: SnapshotChunk): Uint8Array {
  return packr.pack(c);
}

/** Decodes and validates one snapshot chunk; never throws. */
export function decodeSnapshotChunk(body: Uint8Array): Decoded<SnapshotChunk> {
  return decodeVersioned(body, 'chunk', (o, v) => {
    const h = obj(o.header, 'header');
    const meta = snapshot({ meta: h.meta, data: new Uint8Array(0) }).meta;
    const value: SnapshotChunk = {
      v,
      cluster: str(o.cluster, 'cluster'),
      from: str(o.from, 'from'),
      group: int(o.group, 'group'),
      header: {
        from: str(h.from, 'header.from'),
        to: str(h.to, 'header.to'),
        term: int(h.term, 'header.term'),
        meta,
      },
      offset: int(o.offset, 'offset'),
      total: int(o.total, 'total'),
      chunk: bytes(o.chunk, 'chunk'),
      done: bool(o.done, 'done'),
    };
    if (value.offset + value.chunk.byteLength > value.total) throw new WireError('chunk beyond total');
    return value;
  });
}

/**
 * A node with a new data directory claims its incarnation with each other node before it runs
 * anything (node/identity.ts); the answer says what the other node knew of it.
 */
export interface Claim {
  readonly v: number;
  readonly cluster: string;
  readonly from: string;
  readonly incarnation: string;
}

/** See node/identity.ts for what each answer means. */
export type ClaimAnswer = 'new' | 'same' | 'rejoin' | 'taken';

const claimAnswers: readonly ClaimAnswer[] = ['new', 'same', 'rejoin', 'taken'];

export function encodeClaim(c: Claim): Uint8Array {
  return packr.pack(c);
}

/** Decodes and validates a claim; never throws. */
export function decodeClaim(body: Uint8Array): Decoded<Claim> {
  return decodeVersioned(body, 'claim', (o, v) => ({
    v,
    cluster: str(o.cluster, 'cluster'),
    from: str(o.from, 'from'),
    incarnation: str(o.incarnation, 'incarnation'),
  }));
}

export function encodeClaimAnswer(answer: ClaimAnswer): Uint8Array {
  return packr.pack({ v: wireVersion, answer });
}

/** Decodes the answer to a claim; never throws. */
export function decodeClaimAnswer(body: Uint8Array): Decoded<ClaimAnswer> {
  return decodeVersioned(body, 'claim answer', (o) => {
    const answer = o.answer as ClaimAnswer;
    if (!claimAnswers.includes(answer)) throw new WireError('unknown claim answer');
    return answer;
  });
}
