/**
 * Serving a shard's requests on its leader from another node: a node that does not lead a shard
 * sends the write or the read to the leader as a call on the peer stream (transport/), as a
 * Raft follower forwards a proposal, instead of relaying the client's whole HTTP request. The
 * leader runs it as if it came from its own API and answers the result and its provenance.
 *
 * What each failure means to the caller: the call never left (no open stream) → NotSentError,
 * nothing done (the API then relays the HTTP request instead); the leader is no longer the leader
 * → NotLeaderError with the leader it knows, nothing done; the leader's own error (KVError) → the
 * same error; the answer was lost after the call left → a write's outcome is unknown (504), a
 * read is `unavailable`.
 */

import { Packr } from 'msgpackr';
import { decodeCommand, encodeCommand, type KVCommand, type KVEntry, type KVResult } from '../kv/index.js';
import type { NodeId } from '../raft/types.js';
import { CallNotSentError } from '../transport/peer-link.js';
import { KVError, type KVErrorCode, NotLeaderError, outcomeUnknown, unavailable } from './errors.js';
import type { Provenance } from './node.js';

/** What serving a shard's writes and reads needs: the leader's node, here or elsewhere. */
export interface ShardServer {
  propose(shard: number, cmd: KVCommand): Promise<{ result: KVResult; at: Provenance }>;
  read(
    shard: number,
    key: string,
    consistency: 'linearizable' | 'stale',
  ): Promise<{ entry: KVEntry | null; at: Provenance }>;
}

/** How much longer than the leader's own request timeout a caller waits for a call's answer. */
export const remoteCallGraceMs = 1_000;

/** The call never reached the other node: nothing was done. */
export class NotSentError extends Error {
  override readonly name = 'NotSentError';
}

type Call =
  | { readonly k: 'propose'; readonly shard: number; readonly cmd: Uint8Array }
  | { readonly k: 'read'; readonly shard: number; readonly key: string; readonly stale: boolean };

type Answer =
  | {
      readonly ok: true;
      readonly result?: KVResult;
      readonly entry?: KVEntry | null;
      readonly at: Provenance;
    }
  | {
      readonly ok: false;
      readonly notLeader: NodeId | null;
      readonly error?: { readonly code: KVErrorCode; readonly status: number; readonly message: string };
    };

const packr = new Packr({ useRecords: false, moreTypes: false });

/**
 * How the leader's node answers calls: with the local node. A shard it holds no replica of (any
 * more), or no longer leads, is refused as NotLeaderError naming the node `leaderOf` says
 * requests for the shard should go to.
 */
export async function answerCall(
  local: ShardServer & { hosts(shard: number): boolean },
  leaderOf: (shard: number) => NodeId | null,
  payload: Uint8Array,
): Promise<Uint8Array> {
  const call = decodeCall(payload);
  try {
    if (!local.hosts(call.shard)) throw new NotLeaderError(call.shard);
    if (call.k === 'propose') {
      const { result, at } = await local.propose(call.shard, decodeCommand(call.cmd));
      return packr.pack({ ok: true, result, at } satisfies Answer);
    }
    const { entry, at } = await local.read(call.shard, call.key, call.stale ? 'stale' : 'linearizable');
    return packr.pack({ ok: true, entry, at } satisfies Answer);
  } catch (err) {
    if (err instanceof NotLeaderError)
      return packr.pack({ ok: false, notLeader: leaderOf(call.shard) } satisfies Answer);
    if (err instanceof KVError)
      return packr.pack({
        ok: false,
        notLeader: null,
        error: { code: err.code, status: err.status, message: err.message },
      } satisfies Answer);
    throw err;
  }
}

/**
 * The leader on `node`, reached by calls through `send` (the transport's call). A KVError from
 * `send` itself (refused before the call left, e.g. at this node's in-flight cap) passes through.
 */
export class RemoteShardServer implements ShardServer {
  readonly #node: NodeId;
  readonly #send: (node: NodeId, payload: Uint8Array) => Promise<Uint8Array>;
  readonly #served: (at: Provenance) => void;

  /** `served` hears the provenance of every answer that served a request. */
  constructor(
    node: NodeId,
    send: (node: NodeId, payload: Uint8Array) => Promise<Uint8Array>,
    served: (at: Provenance) => void,
  ) {
    this.#node = node;
    this.#send = send;
    this.#served = served;
  }

  async propose(shard: number, cmd: KVCommand): Promise<{ result: KVResult; at: Provenance }> {
    const a = await this.#call({ k: 'propose', shard, cmd: encodeCommand(cmd) }, true);
    if (a.result === undefined) throw outcomeUnknown(`${this.#node} answered a write without its result`);
    return { result: a.result, at: a.at };
  }

  async read(
    shard: number,
    key: string,
    consistency: 'linearizable' | 'stale',
  ): Promise<{ entry: KVEntry | null; at: Provenance }> {
    const a = await this.#call({ k: 'read', shard, key, stale: consistency === 'stale' }, false);
    return { entry: a.entry ?? null, at: a.at };
  }

  async #call(call: Call, write: boolean): Promise<Extract<Answer, { ok: true }>> {
    let bytes: Uint8Array;
    try {
      bytes = await this.#send(this.#node, packr.pack(call));
    } catch (err) {
      if (err instanceof CallNotSentError) throw new NotSentError(err.message);
      // Refused before it left (this node's in-flight cap): nothing was done; passed on as it is.
      if (err instanceof KVError) throw err;
      const why = `the call to the shard leader ${this.#node} got no answer (${(err as Error).message})`;
      throw write ? outcomeUnknown(`${why}; the write may or may not take effect`) : unavailable(why);
    }
    const a = decodeAnswer(bytes);
    if (a.ok) {
      this.#served(a.at);
      return a;
    }
    if (a.error === undefined) throw new NotLeaderError(call.shard, a.notLeader);
    throw new KVError(a.error.code, a.error.status, a.error.message);
  }
}

function decodeCall(payload: Uint8Array): Call {
  const c = packr.unpack(payload) as Record<string, unknown>;
  const shard = c?.shard;
  if (typeof shard !== 'number' || !Number.isSafeInteger(shard) || shard < 0)
    throw new Error('call without a shard');
  if (c.k === 'propose' && c.cmd instanceof Uint8Array) return { k: 'propose', shard, cmd: c.cmd };
  if (c.k === 'read' && typeof c.key === 'string' && typeof c.stale === 'boolean')
    return { k: 'read', shard, key: c.key, stale: c.stale };
  throw new Error('malformed call');
}

/** The answer as sent by a node of this cluster (authenticated by the stream's MAC). */
function decodeAnswer(bytes: Uint8Array): Answer {
  const a = packr.unpack(bytes) as Answer;
  if (typeof a !== 'object' || a === null || typeof a.ok !== 'boolean') throw unavailable('malformed answer');
  if (a.ok) {
    const entry = a.entry;
    // msgpack gives a Buffer view of the frame; the value outlives it.
    return entry === undefined || entry === null
      ? a
      : { ...a, entry: { ...entry, value: Buffer.from(entry.value) } };
  }
  return a;
}
