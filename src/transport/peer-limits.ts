/**
 * Limits of the peer port's HTTP server against large and slow senders. Peers send each request
 * at once (a batch of messages or one snapshot chunk) and give up on it after a few seconds, and
 * the port answers without waiting on anything; so a sender that dribbles its headers or body, or
 * a socket that stays silent, is a stranger or a broken peer: it gets 408 and its connection
 * closed. A head too large gets 431; bodies are bounded apart (`bodyBytesMax`, 413).
 */

/** Node's server options of the peer port (fastify's `http`, or merged into `https`). */
export const peerServerLimits = {
  maxHeaderSize: 16 * 1024,
  headersTimeout: 5_000,
  connectionsCheckingInterval: 1_000,
} as const;

/** fastify's own timeouts of the peer port: whole request, silent socket, idle keep-alive. */
export const peerTimeouts = {
  requestTimeout: 10_000,
  connectionTimeout: 30_000,
  keepAliveTimeout: 30_000,
} as const;
