/**
 * A shard served by the leader's node through a call (remote.ts), without a network: a
 * RemoteShardServer whose `send` hands the call straight to `answerCall` over a scripted local
 * server. What the local server answers comes back unchanged with its provenance; its refusals
 * come back as the same errors; and a call that fails in transit becomes NotSentError (nothing
 * done), a write of unknown outcome (504) or an unavailable read (503).
 */

import { describe, expect, it } from 'vitest';
import type { KVCommand, KVEntry, KVResult } from '../../../src/kv/index.js';
import { KVError, NotLeaderError, outcomeUnknown, unavailable } from '../../../src/node/errors.js';
import { InFlightLimit } from '../../../src/node/in-flight.js';
import type { Provenance } from '../../../src/node/node.js';
import { answerCall, NotSentError, RemoteShardServer, type ShardServer } from '../../../src/node/remote.js';
import { CallFailedError, CallLostError, CallNotSentError } from '../../../src/transport/peer-link.js';

const at: Provenance = { shard: 2, node: 'n1', term: 4, index: 17 };
const noCond = { ifMatch: null, ifNoneMatch: false };

/** A local server that answers every write with `result` and every read with `entry`, or throws `fails`. */
function scriptedLocal(o: { result?: KVResult; entry?: KVEntry | null; fails?: Error; hosted?: boolean }) {
  const asked: string[] = [];
  const proposed: KVCommand[] = [];
  const local: ShardServer & { hosts(shard: number): boolean } = {
    hosts: (shard) => {
      asked.push(`hosts ${shard}`);
      return o.hosted ?? true;
    },
    propose: async (shard, cmd) => {
      asked.push(`propose ${shard}`);
      proposed.push(cmd);
      if (o.fails !== undefined) throw o.fails;
      return { result: o.result!, at };
    },
    read: async (shard, key, consistency) => {
      asked.push(`read ${shard} ${key} ${consistency}`);
      if (o.fails !== undefined) throw o.fails;
      return { entry: o.entry ?? null, at };
    },
  };
  return { local, asked, proposed };
}

/** A RemoteShardServer for n1 whose calls `answerCall` answers over `local`; n3 leads by `leaderOf`. */
function wired(local: ShardServer & { hosts(shard: number): boolean }, leader: string | null = 'n3') {
  const sentTo: string[] = [];
  const served: Provenance[] = [];
  const leaderAsked: number[] = [];
  const leaderOf = (shard: number) => {
    leaderAsked.push(shard);
    return leader;
  };
  const remote = new RemoteShardServer(
    'n1',
    (node, payload) => {
      sentTo.push(node);
      return answerCall(local, leaderOf, payload);
    },
    (p) => served.push(p),
  );
  return { remote, sentTo, served, leaderAsked };
}

/** What `p` settled to, errors by their class and the fields the callers look at. */
const outcome = (p: Promise<unknown>) =>
  p.then(
    (value) => ({ value }),
    (e: Error) => {
      if (e instanceof NotLeaderError) return { NotLeaderError: { shard: e.shard, leader: e.leader } };
      if (e instanceof KVError) return { KVError: { code: e.code, status: e.status, message: e.message } };
      return { [e.constructor.name]: e.message };
    },
  );

const bytes = (b: Uint8Array) => [...b];

describe('a RemoteShardServer answered by answerCall', () => {
  it('gives a put the result and provenance the local server gave, the command arriving intact', async () => {
    const s = scriptedLocal({ result: { ok: true, op: 'put', version: '17' } });
    const w = wired(s.local);
    const cmd: KVCommand = {
      op: 'put',
      key: 'k',
      value: Buffer.from('v1'),
      cond: { ifMatch: '9', ifNoneMatch: false },
      session: { client: 'c7', seq: 3 },
    };
    expect(await w.remote.propose(2, cmd)).toEqual({ result: { ok: true, op: 'put', version: '17' }, at });
    expect(s.proposed.map((c) => ({ ...c, value: c.op === 'put' ? bytes(c.value) : null }))).toEqual([
      { ...cmd, value: bytes(Buffer.from('v1')) },
    ]);
    expect({ asked: s.asked, sentTo: w.sentTo, served: w.served }).toEqual({
      asked: ['hosts 2', 'propose 2'],
      sentTo: ['n1'],
      served: [at],
    });
  });

  it('gives a delete its result', async () => {
    const s = scriptedLocal({ result: { ok: true, op: 'delete' } });
    const w = wired(s.local);
    const cmd: KVCommand = { op: 'delete', key: 'gone', cond: noCond, session: null };
    expect(await w.remote.propose(2, cmd)).toEqual({ result: { ok: true, op: 'delete' }, at });
    expect(s.proposed).toEqual([cmd]);
    expect(w.served).toEqual([at]);
  });

  it('gives a write whose precondition failed that result, as the local server did', async () => {
    const s = scriptedLocal({ result: { ok: false, code: 'precondition_failed' } });
    const w = wired(s.local);
    const cmd: KVCommand = {
      op: 'delete',
      key: 'k',
      cond: { ifMatch: '3', ifNoneMatch: false },
      session: null,
    };
    expect(await w.remote.propose(2, cmd)).toEqual({
      result: { ok: false, code: 'precondition_failed' },
      at,
    });
    expect(w.served).toEqual([at]);
  });

  it('gives a read the entry, value bytes and version equal, with the consistency asked for', async () => {
    const s = scriptedLocal({ entry: { value: Buffer.from([0, 1, 2, 255]), version: '12' } });
    const w = wired(s.local);
    const linearizable = await w.remote.read(2, 'k', 'linearizable');
    const stale = await w.remote.read(2, 'k', 'stale');
    for (const r of [linearizable, stale]) {
      expect({ value: bytes(r.entry!.value), version: r.entry!.version, at: r.at }).toEqual({
        value: [0, 1, 2, 255],
        version: '12',
        at,
      });
    }
    expect(s.asked).toEqual(['hosts 2', 'read 2 k linearizable', 'hosts 2', 'read 2 k stale']);
    expect(w.served).toEqual([at, at]);
  });

  it('gives a read of a missing key entry null', async () => {
    const w = wired(scriptedLocal({ entry: null }).local);
    expect(await w.remote.read(2, 'absent', 'linearizable')).toEqual({ entry: null, at });
  });

  it('throws NotLeaderError naming the leader leaderOf gave when the local server is not the leader', async () => {
    for (const leader of ['n3', null]) {
      const w = wired(scriptedLocal({ fails: new NotLeaderError(2) }).local, leader);
      const cmd: KVCommand = { op: 'delete', key: 'k', cond: noCond, session: null };
      expect(await outcome(w.remote.propose(2, cmd))).toEqual({ NotLeaderError: { shard: 2, leader } });
      expect(await outcome(w.remote.read(2, 'k', 'stale'))).toEqual({ NotLeaderError: { shard: 2, leader } });
      expect({ leaderAsked: w.leaderAsked, served: w.served }).toEqual({ leaderAsked: [2, 2], served: [] });
    }
  });

  it('throws NotLeaderError for a shard the node holds no replica of, without asking it', async () => {
    const s = scriptedLocal({ entry: null, hosted: false });
    const w = wired(s.local);
    expect(await outcome(w.remote.read(5, 'k', 'linearizable'))).toEqual({
      NotLeaderError: { shard: 5, leader: 'n3' },
    });
    expect(s.asked).toEqual(['hosts 5']);
  });

  it("throws the local server's KVError with the same code, status and message", async () => {
    for (const err of [
      unavailable('the shard leader is overloaded'),
      outcomeUnknown('proposed; outcome unknown'),
    ]) {
      const w = wired(scriptedLocal({ fails: err }).local);
      const cmd: KVCommand = { op: 'delete', key: 'k', cond: noCond, session: null };
      const same = { KVError: { code: err.code, status: err.status, message: err.message } };
      expect(await outcome(w.remote.propose(2, cmd))).toEqual(same);
      expect(await outcome(w.remote.read(2, 'k', 'linearizable'))).toEqual(same);
      expect(w.served).toEqual([]);
    }
  });

  it('lets answerCall reject what is neither, and a payload that is no call', async () => {
    const { local } = scriptedLocal({ fails: new Error('disk on fire') });
    const w = wired(local);
    expect(await outcome(w.remote.read(2, 'k', 'stale'))).toEqual({
      KVError: {
        code: 'unavailable',
        status: 503,
        message: 'the call to the shard leader n1 got no answer (disk on fire)',
      },
    });
    expect(await outcome(answerCall(local, () => null, Buffer.from([0xc0])))).toEqual({
      Error: 'call without a shard',
    });
  });
});

describe('a RemoteShardServer whose call fails in transit', () => {
  const cmd: KVCommand = { op: 'put', key: 'k', value: Buffer.from('v'), cond: noCond, session: null };
  const failing = (err: Error) => {
    const served: Provenance[] = [];
    const remote = new RemoteShardServer(
      'n1',
      async () => Promise.reject(err),
      (p) => served.push(p),
    );
    return { remote, served };
  };

  it('throws NotSentError when the call never left: nothing was done', async () => {
    const { remote, served } = failing(new CallNotSentError('no open stream to n1'));
    expect(await outcome(remote.propose(2, cmd))).toEqual({ NotSentError: 'no open stream to n1' });
    expect(await outcome(remote.read(2, 'k', 'linearizable'))).toEqual({
      NotSentError: 'no open stream to n1',
    });
    await expect(remote.read(2, 'k', 'stale')).rejects.toBeInstanceOf(NotSentError);
    expect(served).toEqual([]);
  });

  it('makes a lost write of unknown outcome (504) and a lost read unavailable (503)', async () => {
    const { remote, served } = failing(new CallLostError('the stream to n1 closed'));
    expect(await outcome(remote.propose(2, cmd))).toEqual({
      KVError: {
        code: 'timeout',
        status: 504,
        message:
          'the call to the shard leader n1 got no answer (the stream to n1 closed); the write may or may not take effect',
      },
    });
    expect(await outcome(remote.read(2, 'k', 'linearizable'))).toEqual({
      KVError: {
        code: 'unavailable',
        status: 503,
        message: 'the call to the shard leader n1 got no answer (the stream to n1 closed)',
      },
    });
    expect(served).toEqual([]);
  });

  it("passes on this node's own refusal before the call left (its in-flight cap): 503, nothing done", async () => {
    const cap = new InFlightLimit('n2', 0);
    let sent = 0;
    const remote = new RemoteShardServer(
      'n1',
      (_node, payload) =>
        cap.run(async () => {
          sent++;
          return payload;
        }),
      () => undefined,
    );
    const refused = {
      KVError: {
        code: 'unavailable',
        status: 503,
        message: 'node n2 is at its limit of 0 requests in flight; nothing was done, retry later',
      },
    };
    expect(await outcome(remote.propose(2, cmd))).toEqual(refused);
    expect(await outcome(remote.read(2, 'k', 'linearizable'))).toEqual(refused);
    expect(sent).toBe(0);
  });

  it('treats a call the peer could not handle as lost: a write of unknown outcome', async () => {
    const { remote } = failing(new CallFailedError('starting; not serving yet'));
    expect(await outcome(remote.propose(2, cmd))).toEqual({
      KVError: {
        code: 'timeout',
        status: 504,
        message:
          'the call to the shard leader n1 got no answer (starting; not serving yet); the write may or may not take effect',
      },
    });
  });
});
