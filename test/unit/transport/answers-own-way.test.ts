/**
 * Answers to calls between two real nodes' transports, wired as server/serve.ts wires them: the
 * answer to n1's call rides on n2's own stream to n1 when that is open (with whatever else n2
 * sends n1 in that turn), and goes back on n1's stream when it is not. Either way n1's call
 * resolves with exactly the handler's answer.
 */

import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../harness/index.js';
import type { Message } from '../../../src/raft/types.js';
import { HttpTransport } from '../../../src/transport/http-transport.js';
import { buildPeerServer } from '../../../src/transport/peer-server.js';
import type { GroupMessage } from '../../../src/transport/wire.js';

const secret = 'the-cluster-secret-of-c1';
const log = pino({ level: 'silent' });

interface TestNode {
  readonly id: string;
  readonly app: FastifyInstance;
  transport: HttpTransport | null;
  readonly received: GroupMessage[];
  /** What each attempt to answer on this node's own stream returned. */
  readonly ownWay: boolean[];
}

const started: TestNode[] = [];

async function startNode(id: string, other: string): Promise<TestNode & { url: string }> {
  const node: TestNode = {
    id,
    app: null as unknown as FastifyInstance,
    transport: null,
    received: [],
    ownWay: [],
  };
  const app = buildPeerServer({
    clusterId: 'c1',
    self: id,
    secret,
    peers: new Set([other]),
    sink: (_from, msgs) => void node.received.push(...msgs),
    calls: async (from, payload) => Buffer.from(`${id} answers ${from}: ${Buffer.from(payload).toString()}`),
    answerOwnWay: (to, a) => {
      const sent = node.transport?.answer(to, a) ?? false;
      node.ownWay.push(sent);
      return sent;
    },
    answers: (from, answers) => node.transport?.takeAnswers(from, answers),
    claims: async () => 'new',
    log,
    bodyBytesMax: 1024 * 1024,
    messagesMax: 1_000,
    snapshotBytesMax: 1_000,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  Object.assign(node, { app });
  started.push(node);
  return { ...node, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

function connect(node: TestNode, other: string, url: string): HttpTransport {
  node.transport = new HttpTransport({
    clusterId: 'c1',
    self: node.id,
    peers: new Map([[other, url]]),
    requestTimeoutMs: 2_000,
    secret,
    log,
    frameBytesMax: 1024 * 1024,
  });
  return node.transport;
}

const heartbeat = (from: string, to: string): GroupMessage => ({
  group: 0,
  msg: { type: 'heartbeat', from, to, term: 1, commit: 0, read: 0 } as Message,
});

afterEach(async () => {
  for (const n of started.splice(0)) {
    await n.transport?.close();
    await n.app.close();
  }
});

describe('answers to calls between two nodes', () => {
  it("ride on the answering node's own stream when it is open", async () => {
    const n1 = await startNode('n1', 'n2');
    const n2 = await startNode('n2', 'n1');
    const t1 = connect(started[0]!, 'n2', n2.url);
    const t2 = connect(started[1]!, 'n1', n1.url);
    // Both streams open: each node has sent the other a message that arrived.
    t1.send([heartbeat('n1', 'n2')]);
    t2.send([heartbeat('n2', 'n1')]);
    await waitFor(async () => started[0]!.received.length === 1 && started[1]!.received.length === 1, {
      timeoutMs: 5_000,
      intervalMs: 10,
      what: 'a heartbeat each way',
    });
    const answers = await Promise.all(
      ['a', 'b', 'c'].map((p) => t1.call('n2', Buffer.from(p), 2_000).then((b) => Buffer.from(b).toString())),
    );
    expect(answers).toEqual(['n2 answers n1: a', 'n2 answers n1: b', 'n2 answers n1: c']);
    expect(started[1]!.ownWay).toEqual([true, true, true]);
  });

  it("go back on the caller's stream while the answering node has none to it", async () => {
    await startNode('n1', 'n2');
    const n2 = await startNode('n2', 'n1');
    const t1 = connect(started[0]!, 'n2', n2.url);
    // n2 gets a transport with no link to n1 at all (it never sent n1 anything).
    started[1]!.transport = new HttpTransport({
      clusterId: 'c1',
      self: 'n2',
      peers: new Map(),
      requestTimeoutMs: 2_000,
      secret,
      log,
      frameBytesMax: 1024 * 1024,
    });
    t1.send([heartbeat('n1', 'n2')]);
    await waitFor(async () => started[1]!.received.length === 1, {
      timeoutMs: 5_000,
      intervalMs: 10,
      what: "n1's stream to n2",
    });
    const answer = Buffer.from(await t1.call('n2', Buffer.from('x'), 2_000)).toString();
    expect(answer).toBe('n2 answers n1: x');
    expect(started[1]!.ownWay).toEqual([false]);
  });
});
