/**
 * A raw TCP client for the limits of an HTTP server: it writes what a test tells it to (all at
 * once, or dribbled byte by byte), and reports what came back and when the server closed the
 * connection.
 */

import { once } from 'node:events';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface ProbeResult {
  /** The status of the first answer, or null if the server closed without answering. */
  readonly status: number | null;
  /** Everything the server sent. */
  readonly text: string;
  /** From connecting to the server closing the connection. */
  readonly closedAfterMs: number;
}

/**
 * Connects to `port` on 127.0.0.1, lets `feed` write to the socket, and resolves once the server
 * closes the connection; rejects if it is still open after `timeoutMs`.
 */
export async function probe(
  port: number,
  feed: (socket: Socket) => void,
  timeoutMs = 20_000,
): Promise<ProbeResult> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const startMs = performance.now();
  let text = '';
  socket.on('data', (c: Buffer) => {
    text += c.toString('latin1');
  });
  socket.on('error', () => undefined);
  const closed = once(socket, 'close');
  feed(socket);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    socket.destroy();
  }, timeoutMs);
  await closed;
  clearTimeout(timer);
  if (timedOut) throw new Error(`the server kept the connection open for ${timeoutMs} ms`);
  const closedAfterMs = performance.now() - startMs;
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
  return { status: m === null ? null : Number(m[1]), text, closedAfterMs };
}

/** Writes `text` one byte every `everyMs` until the socket closes or the text is sent. */
export function dribble(socket: Socket, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) {
      clearInterval(timer);
      return;
    }
    socket.write(text[i++]!);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

/** The size and time limits an HTTP server enforces, as Node keeps them on the server object. */
export function serverLimits(s: Server) {
  return {
    // Node keeps the option on the server; its types do not say so.
    maxHeaderSize: (s as unknown as { maxHeaderSize: number }).maxHeaderSize,
    headersTimeout: s.headersTimeout,
    requestTimeout: s.requestTimeout,
    timeout: s.timeout,
    keepAliveTimeout: s.keepAliveTimeout,
  };
}
