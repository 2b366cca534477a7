/**
 * The accepting end of peer streams (peer-stream.ts), on the peer port's HTTP server: checks the
 * Upgrade request (path, protocol, cluster id, a known sender, the MAC of the cluster secret)
 * before a single frame is read, answers 101 with its own proof, then hands the sender's Raft
 * messages to the sink and its calls to the call handler, and writes the answers back. A refused
 * Upgrade gets a plain HTTP error and a closed connection; a frame that does not decode closes
 * the stream (the sender opens a new one, Raft resends).
 */

import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { peerAuthHeader } from './peer-auth.js';
import type { PeerPresence } from './peer-presence.js';
import {
  acceptorProof,
  endedByPeer,
  FrameSocket,
  newNonce,
  nonceValid,
  openerProof,
  proofValid,
  sessionKey,
  streamHeaders,
  streamPath,
  streamProtocol,
} from './peer-stream.js';
import type { MessageSink } from './transport.js';
import { decodeFrame, encodeFrame, type PeerNotice, type StreamAnswer } from './wire.js';

/** Answers a call from peer `from`; a rejection is sent back as the call's error. */
export type CallHandler = (from: string, payload: Uint8Array) => Promise<Uint8Array>;

export interface StreamAcceptorOptions {
  readonly clusterId: string;
  readonly secret: string;
  readonly peers: { has(id: string): boolean };
  readonly sink: MessageSink;
  readonly calls: CallHandler;
  /**
   * Sends an answer on this node's own stream to the caller, with what goes there anyway; false
   * when that stream is not open, and the answer goes back on the caller's stream instead.
   */
  readonly answerOwnWay?: (to: string, a: StreamAnswer) => boolean;
  /** What a peer says of itself. */
  readonly notices?: (from: string, notices: readonly PeerNotice[]) => void;
  /** Answers to this node's own calls, come on the peer's stream. */
  readonly answers?: (from: string, answers: readonly StreamAnswer[]) => void;
  readonly frameBytesMax: number;
  readonly messagesMax: number;
  readonly idleMs: number;
  /** Hears when a peer's stream to us opens and ends. */
  readonly presence?: PeerPresence | undefined;
  /** Logs a refusal (once per source and reason). */
  readonly refuse: (source: string, reason: string) => void;
  /**
   * Runs `fn` once the current event-loop turn's I/O is done, so what one turn queues leaves
   * together; setImmediate unless the node's clock says otherwise (LoopClock.soon).
   */
  readonly soon?: ((fn: () => void) => void) | undefined;
}

/** Takes peer streams on `server`; close() ends every open one. */
export function acceptStreams(server: Server, o: StreamAcceptorOptions): { close(): void } {
  const open = new Set<FrameSocket>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node's HTTP server stops listening for this socket's errors before it hands it over: a
    // peer that resets it (while we refuse it, or before the stream takes it) must not crash us.
    socket.on('error', () => {});
    const source = req.socket.remoteAddress ?? 'unknown';
    const problem = checkUpgrade(req, o);
    if (problem !== null) {
      o.refuse(source, problem.reason);
      socket.end(`HTTP/1.1 ${problem.status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    const from = req.headers[streamHeaders.from] as string;
    const openerNonce = req.headers[streamHeaders.nonce] as string;
    const nonce = newNonce();
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        `upgrade: ${streamProtocol}\r\nconnection: Upgrade\r\n` +
        `${streamHeaders.nonce}: ${nonce}\r\n` +
        `${peerAuthHeader}: ${acceptorProof(o.secret, openerNonce, nonce)}\r\n\r\n`,
    );
    let answers: StreamAnswer[] = [];
    let flushing = false;
    const answer = (a: StreamAnswer) => {
      if (o.answerOwnWay?.(from, a) === true) return;
      answers.push(a);
      if (flushing) return;
      flushing = true;
      // Answers that are ready in the same turn leave in one frame.
      (o.soon ?? setImmediate)(() => {
        flushing = false;
        const out = answers;
        answers = [];
        conn.write(encodeFrame({ msgs: [], calls: [], answers: out }));
      });
    };
    const conn: FrameSocket = new FrameSocket(socket, head, {
      key: sessionKey(o.secret, openerNonce, nonce),
      end: 'acceptor',
      frameBytesMax: o.frameBytesMax,
      idleMs: o.idleMs,
      onClose: (reason) => {
        open.delete(conn);
        o.presence?.incomingLost(from, endedByPeer(reason));
        // A peer that stops or restarts just closes; anything else (a bad MAC, a frame over the
        // limit, silence) is worth one line.
        if (reason !== null && !endedByPeer(reason))
          o.refuse(source, `stream from ${from} closed: ${reason}`);
      },
      onFrame: (body) => {
        const decoded = decodeFrame(body, { messagesMax: o.messagesMax });
        if (!decoded.ok) {
          o.refuse(source, decoded.reason);
          conn.close();
          return;
        }
        if (!o.peers.has(from)) {
          o.refuse(source, `unknown sender ${from}`);
          conn.close();
          return;
        }
        const f = decoded.value;
        if (f.msgs.length > 0) o.sink(from, f.msgs);
        if (f.answers.length > 0) o.answers?.(from, f.answers);
        if (f.notices !== undefined && f.notices.length > 0) o.notices?.(from, f.notices);
        for (const c of f.calls) {
          o.calls(from, c.payload).then(
            (payload) => answer({ id: c.id, payload, error: null }),
            (err: Error) => answer({ id: c.id, payload: null, error: err.message }),
          );
        }
      },
    });
    open.add(conn);
    o.presence?.incomingOpen(from);
  });
  return {
    close: () => {
      for (const conn of open) conn.close();
    },
  };
}

function checkUpgrade(
  req: IncomingMessage,
  o: StreamAcceptorOptions,
): { readonly status: string; readonly reason: string } | null {
  if (req.url !== streamPath || req.headers.upgrade !== streamProtocol)
    return { status: '404 Not Found', reason: `no stream at ${req.url} for ${req.headers.upgrade}` };
  const cluster = req.headers[streamHeaders.cluster];
  const from = req.headers[streamHeaders.from];
  const nonce = req.headers[streamHeaders.nonce];
  if (typeof cluster !== 'string' || typeof from !== 'string' || !nonceValid(nonce))
    return { status: '400 Bad Request', reason: 'stream request without cluster, sender or nonce' };
  const proof = openerProof(o.secret, cluster, from, nonce);
  if (!proofValid(proof, req.headers[peerAuthHeader]))
    return {
      status: '401 Unauthorized',
      reason: 'missing or wrong MAC: not signed with this cluster secret',
    };
  if (cluster !== o.clusterId)
    return { status: '403 Forbidden', reason: `cluster id ${cluster} is not ${o.clusterId}` };
  if (!o.peers.has(from)) return { status: '403 Forbidden', reason: `unknown sender ${from}` };
  return null;
}
