/**
 * What the peer stream tests share: a real peer server on 127.0.0.1 whose sink and call handler
 * record, links pointing at it, loggers that keep their lines, and frames built by hand from the
 * format peer-stream.ts documents. Everything started here is closed by `closeAll()`.
 */

import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { type Logger, pino } from 'pino';
import type { Message } from '../../../src/raft/types.js';
import { PeerLink, type PeerLinkOptions } from '../../../src/transport/peer-link.js';
import { buildPeerServer } from '../../../src/transport/peer-server.js';
import type { CallHandler } from '../../../src/transport/stream-acceptor.js';
import type { GroupMessage } from '../../../src/transport/wire.js';

export const secret = 'the-cluster-secret-of-c1';
export const bodyBytesMax = 64 * 1024;

/** A logger that keeps each line it writes, parsed. */
export function recordingLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  return { log, lines };
}

/** The `msg` of every line that has it, in order. */
export const said = (lines: readonly Record<string, unknown>[], msg: string) =>
  lines.filter((l) => l.msg === msg);

export interface PeerServer {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly port: number;
  /** Everything the sink got, one entry per sink call. */
  readonly received: { from: string; msgs: readonly GroupMessage[] }[];
  readonly lines: Record<string, unknown>[];
  /** `METHOD url` of every plain HTTP request (an Upgrade is none). */
  readonly requests: string[];
  /** Closes the server; again is a no-op. */
  close(): Promise<void>;
  /** The messages the sink got, flattened, with their sender. */
  messages(): { from: string; gm: GroupMessage }[];
}

const toClose: (() => Promise<unknown>)[] = [];

/** A listening peer server of cluster c1, node n1, taking n2 and n3. */
export async function startPeerServer(calls?: CallHandler): Promise<PeerServer> {
  const received: PeerServer['received'] = [];
  const { log, lines } = recordingLog();
  const app = buildPeerServer({
    clusterId: 'c1',
    self: 'n1',
    secret,
    peers: new Set(['n2', 'n3']),
    sink: (from, msgs) => void received.push({ from, msgs }),
    ...(calls === undefined ? {} : { calls }),
    claims: async () => 'new',
    log,
    bodyBytesMax,
    messagesMax: 1_000,
    snapshotBytesMax: 1_000,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const requests: string[] = [];
  app.server.on('request', (req: IncomingMessage) => void requests.push(`${req.method} ${req.url}`));
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= app.close();
    return closing;
  };
  toClose.push(close);
  const { port } = app.server.address() as AddressInfo;
  return {
    app,
    port,
    url: `http://127.0.0.1:${port}`,
    received,
    lines,
    requests,
    close,
    messages: () => received.flatMap(({ from, msgs }) => msgs.map((gm) => ({ from, gm }))),
  };
}

/** A link from `self` (n2 unless given) to the peer at `url`; closed by `closeAll()`. */
export function link(url: string, o: Partial<PeerLinkOptions> = {}): PeerLink {
  const l = new PeerLink({
    clusterId: 'c1',
    self: 'n2',
    peer: 'n1',
    url,
    requestTimeoutMs: 2_000,
    queueMessagesMax: 10_000,
    batchMessagesMax: 64,
    snapshotChunkBytes: 1024,
    secret,
    log: pino({ level: 'silent' }),
    frameBytesMax: bodyBytesMax,
    idleMs: 30_000,
    postOnlyMs: 30_000,
    ...o,
  });
  toClose.push(() => l.close());
  return l;
}

/** Registers something else for `closeAll()`. */
export const closeLater = (close: () => Promise<unknown>) => void toClose.push(close);

/** Closes, newest first, everything started since the last call. */
export async function closeAll(): Promise<void> {
  for (const close of toClose.splice(0).reverse()) await close();
}

/** A heartbeat from n2 (or `from`) to n1 in group 1, told apart by its `commit`. */
export const heartbeat = (commit: number, from = 'n2'): GroupMessage => ({
  group: 1,
  msg: { type: 'heartbeat', from, to: 'n1', term: 2, commit, read: 0 } satisfies Message,
});

/** One frame as peer-stream.ts lays it out, written by the opener as its `seq`-th frame. */
export function openerFrame(key: Buffer, seq: number, body: Uint8Array): Buffer {
  const prefix = Buffer.alloc(9);
  prefix[0] = 0;
  prefix.writeBigUInt64BE(BigInt(seq), 1);
  const mac = createHmac('sha256', key).update(prefix).update(body).digest().subarray(0, 16);
  const head = Buffer.alloc(20);
  head.writeUInt32BE(body.byteLength, 0);
  mac.copy(head, 4);
  return Buffer.concat([head, body]);
}

/** How `p` settled: its value as text, or the class and message of its error. */
export const settled = (p: Promise<Uint8Array>): Promise<string> =>
  p.then(
    (v) => `answered ${Buffer.from(v).toString()}`,
    (e: Error) => `${e.constructor.name}: ${e.message}`,
  );
