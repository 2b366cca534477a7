/**
 * One HTTP/1.1 keep-alive connection driven by hand, for tests that must control exactly when
 * each byte of a request leaves (a request in flight across a signal) and keep the connection
 * open as a client's pool would. Answers are read with Content-Length framing only.
 */

import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  readonly statusLine: string;
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export class RawConnection {
  readonly #socket: Socket;
  #buffer = Buffer.alloc(0);
  #closed = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (c: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, c]);
    });
    socket.on('close', () => {
      this.#closed = true;
    });
    socket.on('error', () => undefined);
  }

  static async open(url: string): Promise<RawConnection> {
    const u = new URL(url);
    const socket = connect(Number(u.port), u.hostname);
    await once(socket, 'connect');
    return new RawConnection(socket);
  }

  /** True once the server (or we) closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  write(text: string): void {
    this.#socket.write(text);
  }

  /** The next complete answer, or null if none is complete yet. */
  takeAnswer(): RawAnswer | null {
    const end = this.#buffer.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const head = this.#buffer.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (this.#buffer.length < end + 4 + length) return null;
    const body = this.#buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    this.#buffer = this.#buffer.subarray(end + 4 + length);
    const statusLine = head[0]!;
    return { statusLine, status: Number(statusLine.split(' ')[1]), headers, body };
  }

  destroy(): void {
    this.#socket.destroy();
  }
}
