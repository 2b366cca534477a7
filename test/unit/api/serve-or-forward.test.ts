/**
 * The one forwarding path of the key routes and the listing (serve-or-forward.ts). On a scripted
 * node: served here when this node leads, forwarded to the leader when another does, a wait for
 * an unknown leader, one more routing when leadership moved before anything was proposed
 * (NotLeaderError), and `unavailable` when that does not help or the hop limit is reached.
 * Through the routes of a one-node cluster: a listing and a read whose first attempt finds
 * leadership gone are routed again and answered.
 */

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Forwarded } from '../../../src/api/forward.js';
import { type RoutingNode, type ShardRequest, serveOrForward } from '../../../src/api/serve-or-forward.js';
import {
  KVError,
  NotLeaderError,
  NotSentError,
  type ShardRoute,
  type ShardServer,
} from '../../../src/node/index.js';
import { type OneNode, startOneNode } from './one-node.js';

const leaderApi = 'http://127.0.0.1:7002';

/**
 * A node whose routes are `routes`, one per call (the last one repeats), and a forwarder that
 * records; with `remote`, the node reaches other nodes by calls through `remote(id, calls)`.
 */
function scripted(routes: ShardRoute[], remote?: (id: string, calls: string[]) => ShardServer) {
  const calls: string[] = [];
  let next = 0;
  const node: RoutingNode = {
    ...(remote === undefined
      ? {}
      : {
          remoteServer: (id: string) => {
            calls.push(`remoteServer ${id}`);
            return remote(id, calls);
          },
        }),
    route: (shard) => {
      const route = routes[Math.min(next++, routes.length - 1)]!;
      calls.push(`route ${shard}: ${route.kind}`);
      return route;
    },
    awaitLeader: async (shard, waitMs) => {
      calls.push(`awaitLeader ${shard} ${waitMs}`);
    },
    leaderWaitMs: 80,
    apiOf: (id) => (id === 'n2' ? leaderApi : null),
    propose: async () => {
      throw new Error('the scripted node serves only through `serve`');
    },
    read: async () => {
      throw new Error('the scripted node serves only through `serve`');
    },
  };
  const forwarder = {
    forward: async (api: string, req: { url: string; hops: number }): Promise<Forwarded> => {
      calls.push(`forward ${api}${req.url} hops ${req.hops}`);
      return { status: 200, headers: { 'x-raft-node': 'n2' }, body: Buffer.from('from the leader') };
    },
  };
  return { node, forwarder, calls };
}

const request = (headers: ShardRequest['headers'] = {}): ShardRequest => ({
  shard: 2,
  method: 'GET',
  url: '/v1/kv/k',
  headers,
  body: null,
});

const local: ShardRoute = { kind: 'local' };
const remote: ShardRoute = { kind: 'remote', node: 'n2', api: leaderApi };
const unknown: ShardRoute = { kind: 'unknown' };
const relay = (a: Forwarded) => `relayed ${a.status} ${a.body.toString()}`;

/** What `serveOrForward` makes of `routes` when `serve` throws `failures` NotLeaderErrors first. */
async function run(routes: ShardRoute[], failures: number, headers: ShardRequest['headers'] = {}) {
  const s = scripted(routes);
  let served = 0;
  const serve = async () => {
    served++;
    s.calls.push('serve');
    if (served <= failures) throw new NotLeaderError(2);
    return 'served here';
  };
  const outcome = await serveOrForward(s, request(headers), serve, relay).catch((e: unknown) =>
    e instanceof KVError ? `${e.status} ${e.code}: ${e.message}` : Promise.reject(e),
  );
  return { outcome, calls: s.calls };
}

describe('serveOrForward', () => {
  it('serves here when this node leads the shard', async () => {
    expect(await run([local], 0)).toEqual({ outcome: 'served here', calls: ['route 2: local', 'serve'] });
  });

  it('forwards to the leader and relays its answer, counting the hop', async () => {
    expect(await run([remote], 0, { 'x-raft-hops': '1' })).toEqual({
      outcome: 'relayed 200 from the leader',
      calls: ['route 2: remote', `forward ${leaderApi}/v1/kv/k hops 1`],
    });
  });

  it('routes again when leadership moved away before anything was proposed', async () => {
    expect(await run([local, remote], 1)).toEqual({
      outcome: 'relayed 200 from the leader',
      calls: ['route 2: local', 'serve', 'route 2: remote', `forward ${leaderApi}/v1/kv/k hops 0`],
    });
  });

  it('waits for the new leader once leadership moved and no leader is known yet', async () => {
    expect(await run([local, unknown, local], 1)).toEqual({
      outcome: 'served here',
      calls: ['route 2: local', 'serve', 'route 2: unknown', 'awaitLeader 2 80', 'route 2: local', 'serve'],
    });
  });

  it('refuses with 503 when leadership moves away twice', async () => {
    expect(await run([local], 2)).toEqual({
      outcome: '503 unavailable: leadership of shard 2 is moving; nothing was done',
      calls: ['route 2: local', 'serve', 'route 2: local', 'serve'],
    });
  });

  it('refuses with 503 when no leader is known after the wait', async () => {
    expect(await run([unknown], 0)).toEqual({
      outcome: '503 unavailable: no leader known for shard 2',
      calls: ['route 2: unknown', 'awaitLeader 2 80', 'route 2: unknown'],
    });
  });

  it('forwards no further than the hop limit, nor with a hop count it cannot read', async () => {
    for (const hops of ['2', 'x', '', '1, 1']) {
      expect({ hops, ...(await run([remote], 0, { 'x-raft-hops': hops })) }).toEqual({
        hops,
        outcome: '503 unavailable: no leader known for shard 2',
        calls: ['route 2: remote'],
      });
    }
  });
});

/** A node's server reached by calls whose reads answer `'value on <id>'`, or throw `fails(id)`. */
const callee =
  (fails: (id: string) => Error | null) =>
  (id: string, calls: string[]): ShardServer => ({
    propose: async () => {
      throw new Error('these tests only read');
    },
    read: async (shard) => {
      calls.push(`read on ${id}`);
      const err = fails(id);
      if (err !== null) throw err;
      return {
        entry: { value: Buffer.from(`value on ${id}`), version: '1' },
        at: { shard, node: id, term: 1, index: 1 },
      };
    },
  });

/** What `serveOrForward` makes of a read of `routes` with `opts`, when `fails` says which callee throws. */
async function runRemote(
  routes: ShardRoute[],
  opts: { remote: boolean } | undefined,
  fails: (id: string) => Error | null = () => null,
) {
  const s = scripted(routes, callee(fails));
  let remoteCount = 0;
  const serve = async (on: ShardServer) =>
    `served: ${(await on.read(2, 'k', 'linearizable')).entry!.value.toString()}`;
  const outcome = await serveOrForward(
    { ...s, onRemote: () => void remoteCount++ },
    request(),
    serve,
    relay,
    opts,
  ).catch((e: unknown) => (e instanceof KVError ? `${e.status} ${e.code}: ${e.message}` : Promise.reject(e)));
  return { outcome, calls: s.calls, remoteCount };
}

describe('serveOrForward with calls to the leader (remote)', () => {
  it("serves a remote route through the leader's node, counting it once, without the forwarder", async () => {
    expect(await runRemote([remote], { remote: true })).toEqual({
      outcome: 'served: value on n2',
      calls: ['route 2: remote', 'remoteServer n2', 'read on n2'],
      remoteCount: 1,
    });
  });

  it('relays over HTTP when the call was not sent, counting only the forward', async () => {
    expect(
      await runRemote([remote], { remote: true }, () => new NotSentError('no open stream to n2')),
    ).toEqual({
      outcome: 'relayed 200 from the leader',
      calls: ['route 2: remote', 'remoteServer n2', 'read on n2', `forward ${leaderApi}/v1/kv/k hops 0`],
      remoteCount: 0,
    });
  });

  it('routes the second pass to the leader the refusing node named', async () => {
    const fails = (id: string) => (id === 'n2' ? new NotLeaderError(2, 'n3') : null);
    expect(await runRemote([remote], { remote: true }, fails)).toEqual({
      outcome: 'served: value on n3',
      calls: [
        'route 2: remote',
        'remoteServer n2',
        'read on n2',
        'route 2: remote',
        'remoteServer n3',
        'read on n3',
      ],
      remoteCount: 2,
    });
  });

  it('forwards over HTTP without `remote`, even when the node could call the leader', async () => {
    for (const opts of [{ remote: false }, undefined]) {
      expect(await runRemote([remote], opts)).toEqual({
        outcome: 'relayed 200 from the leader',
        calls: ['route 2: remote', `forward ${leaderApi}/v1/kv/k hops 0`],
        remoteCount: 0,
      });
    }
  });
});

describe('the routes route again when leadership moved (one node)', () => {
  let one: OneNode;

  beforeAll(async () => {
    one = await startOneNode();
    const put = await one.app.inject({ method: 'PUT', url: '/v1/kv/moved/a', payload: 'A' });
    expect(put.statusCode).toBe(200);
  });

  afterAll(async () => {
    await one?.close();
  });

  it('the listing asks the shard again after NotLeaderError and answers in full', async () => {
    const list = vi.spyOn(one.node, 'list').mockRejectedValueOnce(new NotLeaderError(0));
    try {
      const r = await one.app.inject({ method: 'GET', url: '/v1/kv?prefix=moved/' });
      expect({ status: r.statusCode, body: r.json() }).toEqual({
        status: 200,
        body: {
          items: [{ key: 'moved/a', value: Buffer.from('A').toString('base64'), version: '2' }],
          more: false,
        },
      });
      expect(list).toHaveBeenCalledTimes(2);
    } finally {
      list.mockRestore();
    }
  });

  it('the listing refuses with 503 when leadership moves away on the second attempt too', async () => {
    const list = vi
      .spyOn(one.node, 'list')
      .mockRejectedValueOnce(new NotLeaderError(0))
      .mockRejectedValueOnce(new NotLeaderError(0));
    try {
      const r = await one.app.inject({ method: 'GET', url: '/v1/kv?prefix=moved/' });
      expect({ status: r.statusCode, body: r.json() }).toEqual({
        status: 503,
        body: {
          error: { code: 'unavailable', message: 'leadership of shard 0 is moving; nothing was done' },
        },
      });
      expect(list).toHaveBeenCalledTimes(2);
    } finally {
      list.mockRestore();
    }
  });

  it('a key read asks again after NotLeaderError too', async () => {
    const read = vi.spyOn(one.node, 'read').mockRejectedValueOnce(new NotLeaderError(0));
    try {
      const r = await one.app.inject({ method: 'GET', url: '/v1/kv/moved/a' });
      expect({ status: r.statusCode, body: r.body }).toEqual({ status: 200, body: 'A' });
      expect(read).toHaveBeenCalledTimes(2);
    } finally {
      read.mockRestore();
    }
  });
});
