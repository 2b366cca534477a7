/**
 * Client workloads for the integration tests: concurrent writers of unique keys that record each
 * outcome the way README's API defines it (200 acknowledged, 503 or a refused connection: nothing done,
 * 504 or a lost answer: unknown), a bounded bulk writer, and the checkers that read every
 * acknowledged write back with its exact value and version (session writes also replayed, and
 * none applied twice).
 */

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { sleep } from '../../harness/index.js';
import type { Reply, TestCluster } from './harness.js';
import type { SessionWriters } from './session-writers.js';

/** A write answered 200. */
export interface Ack {
  readonly key: string;
  readonly value: string;
  readonly version: string;
  readonly shard: number;
  /** The node that served it (X-Raft-Node). */
  readonly node: string;
  readonly startedMs: number;
  readonly endedMs: number;
}

/** How a failed request ended: the status, or the network error's code. */
function failureLabel(err: unknown): string {
  const e = err as { code?: string; name?: string; cause?: { code?: string } };
  return e.code ?? e.cause?.code ?? e.name ?? 'error';
}

/** Failures after which README's API promises nothing was done. */
const nothingDone = new Set(['503', 'ECONNREFUSED']);

const catalogue: Readonly<Record<number, string>> = {
  400: 'bad_request',
  404: 'not_found',
  412: 'precondition_failed',
  413: 'too_large',
  503: 'unavailable',
  504: 'timeout',
};

/** Why an error answer is not what the API's error catalogue (README) says it is, or null if it is. */
export function catalogueProblem(r: Reply): string | null {
  const code = catalogue[r.status];
  if (code === undefined) return `status ${r.status} is not in the catalogue`;
  let body: unknown;
  try {
    body = JSON.parse(r.text());
  } catch {
    return `${r.status} with a body that is not JSON: ${r.text().slice(0, 100)}`;
  }
  const e = (body as { error?: { code?: unknown; message?: unknown } }).error;
  const shaped =
    Object.keys(body as object).length === 1 &&
    e !== undefined &&
    e.code === code &&
    typeof e.message === 'string' &&
    Object.keys(e).length === 2;
  if (!shaped) return `${r.status} with body ${r.text().slice(0, 100)}`;
  if (r.status === 503 && r.headers['retry-after'] === undefined) return '503 without Retry-After';
  return null;
}

export interface WritersOptions {
  readonly writers: number;
  readonly prefix: string;
  /** Pause after a failed attempt before the next one (on the next node). */
  readonly retryPauseMs?: number;
  readonly requestTimeoutMs?: number;
}

/**
 * `writers` loops, each writing fresh keys `${prefix}/w${i}/${n}` with unique values, one request
 * at a time, spread over the running nodes; a failure moves the writer on to the next node.
 */
export class Writers {
  readonly acked: Ack[] = [];
  /** Keys whose write was refused with nothing done; they must stay absent. */
  readonly refused: string[] = [];
  /** Keys whose write has an unknown outcome. */
  readonly unknown: string[] = [];
  /** Error answers that do not follow the API's error catalogue (README) (shape, code, Retry-After). */
  readonly offCatalogue: string[] = [];
  /** Attempts by outcome: "200", "503", "504", "ECONNREFUSED", ... */
  readonly outcomes = new Map<string, number>();
  readonly #cl: TestCluster;
  readonly #o: WritersOptions;
  readonly #run = randomUUID().slice(0, 8);
  #stopped = false;
  #loops: Promise<void>[] = [];

  constructor(cl: TestCluster, o: WritersOptions) {
    this.#cl = cl;
    this.#o = o;
  }

  start(): void {
    this.#loops = Array.from({ length: this.#o.writers }, (_, i) => this.#loop(i));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#loops);
  }

  /** Acknowledged writes that started after `sinceMs` (performance.now()), on `shard` if given. */
  ackedSince(sinceMs: number, shard?: number): number {
    return this.acked.filter((a) => a.startedMs > sinceMs && (shard === undefined || a.shard === shard))
      .length;
  }

  /**
   * The longest time between two consecutive acknowledgements (of `shard`, if given) that both
   * ended after `sinceMs`.
   */
  longestGapMs(sinceMs: number, shard?: number): { gapMs: number; fromMs: number } {
    const ends = this.acked
      .filter((a) => shard === undefined || a.shard === shard)
      .map((a) => a.endedMs)
      .filter((t) => t >= sinceMs)
      .sort((a, b) => a - b);
    let best = { gapMs: 0, fromMs: sinceMs };
    for (let i = 1; i < ends.length; i++) {
      const gap = ends[i]! - ends[i - 1]!;
      if (gap > best.gapMs) best = { gapMs: gap, fromMs: ends[i - 1]! };
    }
    return best;
  }

  summary(): string {
    const outcomes = [...this.outcomes].map(([k, v]) => `${k}: ${v}`).join(', ');
    const off =
      this.offCatalogue.length === 0
        ? ''
        : `; ${this.offCatalogue.length} off-catalogue error answers (${[...new Set(this.offCatalogue)].join(' | ')})`;
    return `${this.acked.length} acknowledged, ${this.refused.length} refused (nothing done), ${this.unknown.length} unknown outcome [${outcomes}]${off}`;
  }

  #count(label: string): void {
    this.outcomes.set(label, (this.outcomes.get(label) ?? 0) + 1);
  }

  async #loop(w: number): Promise<void> {
    let target = w;
    for (let n = 0; !this.#stopped; n++) {
      const key = `${this.#o.prefix}/${this.#run}/w${w}/${n}`;
      const value = `${key}=${randomUUID()}`;
      const nodes = this.#cl.running();
      if (nodes.length === 0) {
        await sleep(this.#o.retryPauseMs ?? 20);
        continue;
      }
      const node = nodes[target % nodes.length]!;
      const startedMs = performance.now();
      let label: string;
      let ack: Ack | null = null;
      try {
        const r = await this.#cl.put(key, value, { node, timeoutMs: this.#o.requestTimeoutMs ?? 10_000 });
        label = String(r.status);
        if (r.status === 200) {
          ack = {
            key,
            value,
            version: r.json<{ version: string }>().version,
            shard: Number(r.headers['x-raft-shard']),
            node: r.headers['x-raft-node'] ?? '',
            startedMs,
            endedMs: performance.now(),
          };
        } else {
          const problem = catalogueProblem(r);
          if (problem !== null) this.offCatalogue.push(`PUT through ${node}: ${problem}`);
        }
      } catch (err) {
        label = failureLabel(err);
      }
      this.#count(label);
      if (ack !== null) {
        this.acked.push(ack);
        target++;
        continue;
      }
      (nothingDone.has(label) ? this.refused : this.unknown).push(key);
      target++;
      await sleep(this.#o.retryPauseMs ?? 20);
    }
  }
}

/**
 * Writes every (key, value) with `concurrency` requests in flight over the running nodes,
 * retrying only what README's API says was not done (503, refused connection) until `deadlineMs`;
 * any other answer throws. Resolves with each key's version.
 */
export async function writeAll(
  cl: TestCluster,
  entries: ReadonlyMap<string, string>,
  o: { concurrency?: number; deadlineMs?: number } = {},
): Promise<Map<string, string>> {
  const versions = new Map<string, string>();
  const queue = [...entries];
  const deadline = performance.now() + (o.deadlineMs ?? 60_000);
  let turn = 0;
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      const [key, value] = item;
      for (;;) {
        const nodes = cl.running();
        const node = nodes[turn++ % nodes.length]!;
        let label: string;
        try {
          const r = await cl.put(key, value, { node });
          if (r.status === 200) {
            versions.set(key, r.json<{ version: string }>().version);
            break;
          }
          label = `${r.status} ${r.text()}`;
          if (r.status !== 503) throw new Error(`PUT ${key} through ${node}: ${label}`);
        } catch (err) {
          label = failureLabel(err);
          if (label !== 'ECONNREFUSED') throw err;
        }
        if (performance.now() > deadline)
          throw new Error(`PUT ${key} still refused at the deadline: ${label}`);
        await sleep(20);
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 8 }, worker));
  return versions;
}

export interface ReadBackReport {
  readonly checked: number;
  /** One line per key that did not read back as expected. */
  readonly wrong: string[];
}

/**
 * Reads every key (linearizable unless `stale`, through `node` or the running nodes in turn) and
 * compares with what is expected: a value and version, or absence (null). A 503 is retried until
 * `deadlineMs`; any other difference is reported.
 */
export async function readBack(
  cl: TestCluster,
  expected: ReadonlyMap<string, { value: string; version: string } | null>,
  o: { node?: string; stale?: boolean; concurrency?: number; deadlineMs?: number } = {},
): Promise<ReadBackReport> {
  const wrong: string[] = [];
  const queue = [...expected];
  const deadline = performance.now() + (o.deadlineMs ?? 60_000);
  let turn = 0;
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      const [key, want] = item;
      for (;;) {
        const nodes = cl.running();
        const node = o.node ?? nodes[turn++ % nodes.length]!;
        const r = await cl.get(key, { node, stale: o.stale === true });
        if (r.status === 503 && performance.now() < deadline) {
          await sleep(20);
          continue;
        }
        const got = r.status === 200 ? { value: r.text(), etag: r.headers.etag } : null;
        const ok =
          want === null
            ? r.status === 404
            : got !== null && got.value === want.value && got.etag === `"${want.version}"`;
        if (!ok) {
          wrong.push(
            `${key}: expected ${want === null ? 'absent' : `${JSON.stringify(want.value)} @${want.version}`}, ` +
              `got ${r.status} ${got === null ? r.text() : `${JSON.stringify(got.value)} ${got.etag}`} from ${node}`,
          );
        }
        break;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 16 }, worker));
  return { checked: expected.size, wrong };
}

/** What `readBack` expects for acknowledged writes (their value) and refused ones (absent). */
export function expectedAfter(w: Writers): Map<string, { value: string; version: string } | null> {
  const m = new Map<string, { value: string; version: string } | null>();
  for (const a of w.acked) m.set(a.key, { value: a.value, version: a.version });
  for (const k of w.refused) m.set(k, null);
  return m;
}

/** What `checkSessionWrites` found: all empty, and every key read back, when nothing went wrong. */
export interface SessionWritesReport {
  /** Replayed writes not answered 200 with their first version. */
  readonly replays: string[];
  /** Each key's last acknowledged write, read back linearizably. */
  readonly report: ReadBackReport;
  /** Keys with the same version acknowledged more than once. */
  readonly twice: string[];
}

/**
 * After `writers` stopped: sends each key's last `replayed` acknowledged writes again, one at a
 * time through `node` under their (client, seq), and each must be answered with its first
 * version (applied no second time, or the read back would show an older value); then reads every
 * key's last acknowledged write back (`readBack`) and lists keys acknowledged twice with one version.
 */
export async function checkSessionWrites(
  cl: TestCluster,
  writers: SessionWriters,
  keys: readonly string[],
  o: { node: string; replayed: number },
): Promise<SessionWritesReport> {
  const replays: string[] = [];
  for (const key of keys) {
    for (const ack of writers.ackedOf(key).slice(-o.replayed)) {
      const r = await cl.put(key, ack.value, {
        node: o.node,
        headers: { 'x-raft-client': ack.client, 'x-raft-seq': String(ack.seq) },
      });
      if (r.status !== 200 || r.json<{ version: string }>().version !== ack.version)
        replays.push(`${ack.value}: ${r.status} ${r.text()} (first answer @${ack.version})`);
    }
  }
  const report = await readBack(
    cl,
    new Map([...writers.lastAcked()].map(([key, a]) => [key, { value: a.value, version: a.version }])),
  );
  const twice = keys.filter((key) => {
    const versions = writers.ackedOf(key).map((a) => a.version);
    return new Set(versions).size !== versions.length;
  });
  return { replays, report, twice };
}
