/**
 * The log files of a cluster's nodes, one per node: what the node printed, interleaved with JSON
 * lines of the harness's own (`{"time", "harness": <event>, ..., "msg"}`, the shape of the node's
 * pino lines) that mark starts, exits and faults, so a log can be read against a test's history.
 * Owns nothing but the files; `freeze()` keeps their text once the files are to go.
 */

import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export class NodeLogs {
  /** Holds <id>.log for every node. */
  readonly dir: string;
  readonly #ids: string[];
  /** The logs' text from freeze() on; nothing is written after it. */
  #frozen: Map<string, string> | null = null;

  constructor(dir: string, ids: readonly string[]) {
    mkdirSync(dir, { recursive: true });
    this.dir = dir;
    this.#ids = [...ids];
  }

  /** A node that came later (one that joined the cluster): its log, and the harness's marks in it. */
  add(id: string): void {
    if (!this.#ids.includes(id)) this.#ids.push(id);
  }

  path(id: string): string {
    return join(this.dir, `${id}.log`);
  }

  /** Appends what node `id` printed. */
  append(id: string, chunk: Buffer | string): void {
    if (this.#frozen === null) appendFileSync(this.path(id), chunk);
  }

  /** Appends a line of the harness to node `id`'s log; `msg` is its readable text. */
  note(id: string, event: string, detail: Record<string, unknown>, msg: string): void {
    this.append(id, `${JSON.stringify({ time: Date.now(), harness: event, node: id, ...detail, msg })}\n`);
  }

  /** Appends the same line of the harness to every node's log (a fault, a phase of a run). */
  mark(event: string, detail: Record<string, unknown> = {}): void {
    const about = typeof detail.description === 'string' ? ` ${detail.description}` : '';
    const msg = `--- harness: ${event}${about} ---`;
    const line = `${JSON.stringify({ time: Date.now(), harness: event, ...detail, msg })}\n`;
    for (const id of this.#ids) this.append(id, line);
  }

  text(id: string): string {
    if (this.#frozen !== null) return this.#frozen.get(id) ?? '';
    const path = this.path(id);
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  }

  /** The node's JSON lines (pino's and the harness's) whose `msg` is `msg`. */
  events(id: string, msg: string): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.text(id).split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        if (o.msg === msg) out.push(o);
      } catch {
        // A line cut by a kill.
      }
    }
    return out;
  }

  tail(id: string, lines = 30): string {
    return this.text(id).trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** Reads every log into memory: later reads see this text, and later writes are dropped. */
  freeze(): void {
    this.#frozen ??= new Map(this.#ids.map((id) => [id, this.text(id)]));
  }
}
