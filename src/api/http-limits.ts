/**
 * Limits of the client port's HTTP server against large and slow clients: the size of a request's
 * head, how long a client may take to send its headers and its whole request, how long a socket
 * may stay silent, and how long an idle keep-alive connection is kept. A client past a time limit
 * gets 408 and its connection closed; a head too large gets 431. Bodies are bounded apart, by the
 * cluster's `valueBytesMax` (413).
 */

import type { ServerOptions } from 'node:http';

export interface ApiHttpLimits {
  /** Request line and headers together (Node's `maxHeaderSize`). */
  readonly headerBytesMax: number;
  /** From the start of a request (of a new connection: its opening) to the end of its headers. */
  readonly headersTimeoutMs: number;
  /** From the start of a request to its last body byte; the time spent answering is not counted. */
  readonly receiveTimeoutMs: number;
  /** A socket with no traffic either way for this long is closed, also while its request waits. */
  readonly idleTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** How often the server looks for connections past the header and receive limits. */
  readonly checkEveryMs: number;
}

/**
 * The defaults, given the cluster's request timeout. Keys are at most 1024 bytes (3 KiB once
 * URL-encoded), so 16 KiB of head is ample. A request waits for its write, read or forwarded
 * answer up to `requestTimeoutMs`, and a forward runs its own such wait: a socket may be silent
 * for twice that (plus margin) before it is taken for dead. 30 s to send a whole request is
 * 35 KB/s for a 1 MiB value.
 */
export function apiHttpLimits(requestTimeoutMs: number): ApiHttpLimits {
  return {
    headerBytesMax: 16 * 1024,
    headersTimeoutMs: 10_000,
    receiveTimeoutMs: 30_000,
    idleTimeoutMs: 2 * requestTimeoutMs + 10_000,
    keepAliveTimeoutMs: 30_000,
    checkEveryMs: 1_000,
  };
}

/** Node's server options for `limits`; the same for http and https (fastify's `http`/`https`). */
export function nodeServerOptions(limits: ApiHttpLimits): ServerOptions {
  return {
    maxHeaderSize: limits.headerBytesMax,
    headersTimeout: limits.headersTimeoutMs,
    connectionsCheckingInterval: limits.checkEveryMs,
  };
}

/** fastify's own timeout options for `limits`. */
export function fastifyTimeouts(limits: ApiHttpLimits) {
  return {
    requestTimeout: limits.receiveTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
  } as const;
}
