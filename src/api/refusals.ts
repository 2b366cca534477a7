/**
 * Logging of refused client requests (400, 413, 503, 504, 500), once and clearly: the first of a
 * kind (status, code and route) in a second is logged with its message; the ones after it in that
 * second are only counted, and the count rides along (as `suppressed`) with the next line of that
 * kind. A failover that refuses thousands of requests thus logs a few lines, not thousands.
 */

import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

/** Answers that are normal outcomes for the caller, not refusals. */
const notRefusals: ReadonlySet<number> = new Set([404, 412]);

export class RefusalLog {
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #kinds = new Map<string, { lastMs: number; suppressed: number }>();

  constructor(log: Logger, intervalMs = 1_000) {
    this.#log = log;
    this.#intervalMs = intervalMs;
  }

  /** An answer with `status` and error `code` (and its message) went to `req`. */
  note(req: FastifyRequest, status: number, code: string, message: string, nowMs = Date.now()): void {
    if (status < 400 || notRefusals.has(status)) return;
    const route = req.routeOptions.url ?? 'unknown';
    const key = `${status} ${code} ${req.method} ${route}`;
    const kind = this.#kinds.get(key);
    if (kind !== undefined && nowMs - kind.lastMs < this.#intervalMs) {
      kind.suppressed++;
      return;
    }
    const suppressed = kind?.suppressed ?? 0;
    this.#kinds.set(key, { lastMs: nowMs, suppressed: 0 });
    if (this.#kinds.size > 256) this.#kinds.delete(this.#kinds.keys().next().value!);
    const line = { status, code, method: req.method, route, url: req.url.slice(0, 200), message };
    const extra = suppressed > 0 ? { ...line, suppressed } : line;
    if (status >= 500) this.#log.warn(extra, 'request refused');
    else this.#log.info(extra, 'request refused');
  }
}
