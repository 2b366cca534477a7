/**
 * RaftKV, the client library: learns the cluster map from any reachable node, hashes each key on
 * the same ring as the nodes, sends each request straight to the shard's leader, follows leader
 * changes, and retries what is safe: anything known not to have been applied, and writes of
 * unknown outcome under the same session so that they apply exactly once.
 */

import { randomBytes } from 'node:crypto';
import { type Agent, request } from 'undici';
import {
  epochHeader,
  errorStatuses,
  isErrorCode,
  listLimitDefault,
  type Provenance,
  parseProvenance,
  provenanceHeaders,
  sessionHeaders,
} from '../protocol/index.js';
import { type ClusterDescription, ClusterMap } from './cluster-map.js';
import { agentFor, authHeaders } from './connect.js';
import { RaftKVError, type RaftKVErrorCode } from './errors.js';
import { type Lane, Lanes } from './lanes.js';
import { Lease } from './lease.js';
import { type WatchEvent, type WatchOptions, watchChanges } from './watch.js';

export interface RaftKVOptions {
  /** API URLs of one or more nodes, e.g. http://127.0.0.1:7001. */
  readonly endpoints: readonly string[];
  /** Longest wait for one attempt (ms). Default 5000. */
  readonly attemptTimeoutMs?: number;
  /** Longest time one operation may take over all its retries (ms). Default 20000. */
  readonly operationTimeoutMs?: number;
  /** An API token of the cluster, sent as `Authorization: Bearer …` on every request. */
  readonly token?: string | undefined;
  /** For https endpoints: the CA (PEM) the nodes' certificates chain to, when not a public one. */
  readonly ca?: string | Uint8Array | undefined;
}

export interface PutOptions {
  /** Write only if the key's current version is this one. */
  readonly ifMatch?: string;
  /** Write only if the key is absent. */
  readonly ifNoneMatch?: boolean;
  /**
   * Attach the key to this lease (a `Lease`'s `id`): it is deleted when the lease ends. A put
   * without one detaches the key from any lease.
   */
  readonly lease?: string;
  readonly signal?: AbortSignal;
}

export interface DeleteOptions {
  readonly ifMatch?: string;
  readonly signal?: AbortSignal;
}

export interface GetOptions {
  /** `linearizable` (default) asks the leader; `stale` any replica, round-robin. */
  readonly consistency?: 'linearizable' | 'stale';
  readonly signal?: AbortSignal;
}

/**
 * Where an answer came from (the X-Raft-* headers): the key's shard, the node that served
 * it, that node's term, and the applied index the answer reflects. Every raftkv node sends them;
 * an answer without them is refused as `bad_reply`, so these are always the node's own values.
 */
export type Served = Provenance;

export interface PutResult extends Served {
  readonly key: string;
  readonly version: string;
}

export interface GetResult extends Served {
  readonly key: string;
  readonly value: Uint8Array;
  readonly version: string;
}

export interface ListItem {
  readonly key: string;
  readonly value: Uint8Array;
  readonly version: string;
}

export interface ListResult {
  readonly items: readonly ListItem[];
  readonly more: boolean;
  /** Pass as `after` to continue; null when there is no more. */
  readonly next: string | null;
}

interface Attempt {
  readonly method: 'GET' | 'PUT' | 'DELETE' | 'POST';
  readonly path: string;
  readonly shard: number | null;
  readonly leaderOnly: boolean;
  readonly body?: Uint8Array;
  readonly headers?: Record<string, string>;
  readonly lane?: Lane;
  readonly signal?: AbortSignal | undefined;
}

interface Answer {
  /** What was asked of whom, for messages: `PUT http://…/v1/kv/k`. */
  readonly request: string;
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

const retryDelayMaxMs = 200;

/**
 * Statuses of the answers that only the shard's leader gives (itself, or relayed by the node
 * asked): success, and the 404 and 412 of its state machine. Their X-Raft-Node names the leader.
 * Any other error (a 400 or 413 at the edge, a 403) comes from the node asked, whichever it is,
 * and its X-Raft-Node names that node: no news about the leader.
 */
const leaderServed: ReadonlySet<number> = new Set([
  200,
  204,
  errorStatuses.not_found,
  errorStatuses.precondition_failed,
]);

export class RaftKV {
  readonly #endpoints: readonly string[];
  readonly #attemptTimeoutMs: number;
  readonly #operationTimeoutMs: number;
  readonly #agent: Agent;
  readonly #auth: Record<string, string>;
  readonly #lanes = new Lanes(`c${randomBytes(6).toString('hex')}`);
  #map: ClusterMap | null = null;
  #mapLoading: Promise<ClusterMap> | null = null;
  /** When a newer epoch on a reply last made the map be learned anew. */
  #epochRefreshAt = 0;

  constructor(o: RaftKVOptions) {
    if (o.endpoints.length === 0) throw new RangeError('RaftKV needs at least one endpoint');
    for (const e of o.endpoints) if (!URL.canParse(e)) throw new RangeError(`endpoint ${e} is not a URL`);
    this.#endpoints = [...o.endpoints];
    this.#attemptTimeoutMs = o.attemptTimeoutMs ?? 5_000;
    this.#operationTimeoutMs = o.operationTimeoutMs ?? 20_000;
    this.#auth = authHeaders(o);
    this.#agent = agentFor(o, { connections: 256, keepAliveTimeout: 30_000 });
  }

  /**
   * Writes `value` under `key`; throws RaftKVError `precondition_failed` when a condition does not
   * hold, `bad_reply` (outcome unknown) when the answer lacks what a raftkv node sends.
   */
  async put(key: string, value: Uint8Array | string, o: PutOptions = {}): Promise<PutResult> {
    const map = await this.#cluster();
    const headers: Record<string, string> = {};
    if (o.ifMatch !== undefined) headers['if-match'] = `"${o.ifMatch}"`;
    if (o.ifNoneMatch === true) headers['if-none-match'] = '*';
    const body = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const shard = map.shardOf(key);
    const answer = await this.#withLane(shard, (lane) =>
      this.#send({
        method: 'PUT',
        path: o.lease === undefined ? keyPath(key) : `${keyPath(key)}?lease=${encodeURIComponent(o.lease)}`,
        shard,
        leaderOnly: true,
        body,
        headers,
        lane,
        signal: o.signal,
      }),
    );
    if (answer.status !== 200) throw errorOf(answer, false);
    // A 200 that breaks the protocol cannot say whether the write was applied.
    const at = served(answer, true);
    const version = putVersion(answer);
    if (version === null) throw badReply(answer, 'a body without {"version"}', true);
    return { key, version, ...at };
  }

  /** Reads `key`; null when a raftkv node says it is absent. */
  async get(key: string, o: GetOptions = {}): Promise<GetResult | null> {
    const map = await this.#cluster();
    const stale = o.consistency === 'stale';
    const answer = await this.#send({
      method: 'GET',
      path: `${keyPath(key)}${stale ? '?consistency=stale' : ''}`,
      shard: map.shardOf(key),
      leaderOnly: !stale,
      signal: o.signal,
    });
    if (answer.status !== 200 && answer.status !== errorStatuses.not_found) throw errorOf(answer, false);
    // Only a raftkv node may say that a key is absent: a 404 of anything else is no answer.
    const at = served(answer, false);
    if (answer.status === errorStatuses.not_found) return null;
    const version = etagVersion(answer);
    if (version === null) throw badReply(answer, 'no ETag', false);
    return { key, value: new Uint8Array(answer.body), version, ...at };
  }

  /** Deletes `key`; false when it was absent. An answer without provenance is `bad_reply`. */
  async delete(key: string, o: DeleteOptions = {}): Promise<boolean> {
    const map = await this.#cluster();
    const headers: Record<string, string> = {};
    if (o.ifMatch !== undefined) headers['if-match'] = `"${o.ifMatch}"`;
    const shard = map.shardOf(key);
    const answer = await this.#withLane(shard, (lane) =>
      this.#send({
        method: 'DELETE',
        path: keyPath(key),
        shard,
        leaderOnly: true,
        headers,
        lane,
        signal: o.signal,
      }),
    );
    if (answer.status !== 204 && answer.status !== errorStatuses.not_found) throw errorOf(answer, false);
    served(answer, true);
    return answer.status === 204;
  }

  /** Keys starting with `prefix` across all shards, sorted; continue with `after: result.next`. */
  async list(
    prefix: string,
    o: { limit?: number; after?: string; signal?: AbortSignal } = {},
  ): Promise<ListResult> {
    const params = new URLSearchParams({ prefix, limit: String(o.limit ?? listLimitDefault) });
    if (o.after !== undefined) params.set('after', o.after);
    const answer = await this.#send({
      method: 'GET',
      path: `/v1/kv?${params}`,
      shard: null,
      leaderOnly: false,
      signal: o.signal,
    });
    if (answer.status !== 200) throw errorOf(answer, false);
    const page = JSON.parse(answer.body.toString('utf8')) as {
      items: { key: string; value: string; version: string }[];
      more: boolean;
      next?: string;
    };
    return {
      items: page.items.map((i) => ({
        key: i.key,
        value: new Uint8Array(Buffer.from(i.value, 'base64')),
        version: i.version,
      })),
      more: page.more,
      next: page.more ? (page.next ?? null) : null,
    };
  }

  /**
   * The changes under `prefix`, from every shard, as they are committed: an async iterator that
   * reconnects and resumes by itself (watch.ts). Start it after `cursor` to resume.
   */
  watch(prefix: string, o: WatchOptions = {}): AsyncGenerator<WatchEvent, void, undefined> {
    return watchChanges(
      () => [...new Set([...this.#endpoints, ...(this.#map?.apiUrls() ?? [])])],
      this.#agent,
      this.#auth,
      prefix,
      o,
    );
  }

  /**
   * Grants a lease of `ttlMs` (1,000 to 86,400,000) that renews itself until closed (lease.ts):
   * put keys under it with `{ lease: lease.id }`; they are deleted when it is closed, or when it
   * could not be renewed for `ttlMs`. Watch `lease.lost`.
   */
  async lease(ttlMs: number, o: { readonly signal?: AbortSignal } = {}): Promise<Lease> {
    const sentAt = Date.now();
    const { lease } = await this.grantLease(ttlMs, o);
    return new Lease(this, lease, ttlMs, sentAt);
  }

  /** Grants a lease without renewing it: `{lease, ttlMs}`. Prefer `lease()`. */
  async grantLease(
    ttlMs: number,
    o: { readonly signal?: AbortSignal } = {},
  ): Promise<{ lease: string; ttlMs: number }> {
    const answer = await this.#send({
      method: 'POST',
      path: '/v1/leases',
      shard: null,
      leaderOnly: false,
      body: Buffer.from(JSON.stringify({ ttlMs })),
      headers: { 'content-type': 'application/json' },
      signal: o.signal,
    });
    if (answer.status !== 201) throw errorOf(answer, false);
    return JSON.parse(answer.body.toString('utf8')) as { lease: string; ttlMs: number };
  }

  /** Renews lease `lease` for its whole time to live; RaftKVError `not_found` once it has ended. */
  async keepAlive(
    lease: string,
    o: { readonly signal?: AbortSignal } = {},
  ): Promise<{ lease: string; ttlMs: number }> {
    const answer = await this.#send({
      method: 'POST',
      path: `/v1/leases/${encodeURIComponent(lease)}/keepalive`,
      shard: null,
      leaderOnly: false,
      signal: o.signal,
    });
    if (answer.status !== 200) throw errorOf(answer, false);
    return JSON.parse(answer.body.toString('utf8')) as { lease: string; ttlMs: number };
  }

  /** Revokes lease `lease`, deleting its keys; RaftKVError `not_found` if it had ended already. */
  async revokeLease(lease: string, o: { readonly signal?: AbortSignal } = {}): Promise<void> {
    const answer = await this.#send({
      method: 'DELETE',
      path: `/v1/leases/${encodeURIComponent(lease)}`,
      shard: null,
      leaderOnly: false,
      signal: o.signal,
    });
    if (answer.status !== 204) throw errorOf(answer, false);
  }

  /** The cluster map as the nodes describe it (fetched afresh). */
  async cluster(): Promise<ClusterDescription> {
    return (await this.#refreshMap()).description;
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }

  async #withLane<T>(shard: number, run: (lane: Lane) => Promise<T>): Promise<T> {
    const lane = this.#lanes.acquire(shard);
    try {
      return await run(lane);
    } finally {
      this.#lanes.release(lane);
    }
  }

  async #cluster(): Promise<ClusterMap> {
    return this.#map ?? (await this.#refreshMap()).map;
  }

  /** Asks the endpoints (then every node known) for GET /v1/cluster; one request at a time is shared. */
  async #refreshMap(): Promise<{ map: ClusterMap; description: ClusterDescription }> {
    let description: ClusterDescription | null = null;
    const load = async (): Promise<ClusterMap> => {
      const urls = [...new Set([...this.#endpoints, ...(this.#map?.apiUrls() ?? [])])];
      let last: unknown = null;
      for (const url of urls) {
        try {
          const res = await request(new URL('/v1/cluster', url), {
            dispatcher: this.#agent,
            headers: this.#auth,
            signal: AbortSignal.timeout(this.#attemptTimeoutMs),
          });
          const body = await res.body.text();
          // The same tokens hold on every node: no point asking the next one.
          if (res.statusCode === errorStatuses.unauthorized || res.statusCode === errorStatuses.forbidden)
            throw errorOf(
              {
                request: `GET ${new URL('/v1/cluster', url)}`,
                status: res.statusCode,
                headers: res.headers,
                body: Buffer.from(body),
              },
              false,
            );
          if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
          description = JSON.parse(body) as ClusterDescription;
          return new ClusterMap(description);
        } catch (err) {
          if (err instanceof RaftKVError) throw err;
          last = err;
        }
      }
      throw new RaftKVError(
        'unreachable',
        null,
        `no endpoint answered (${urls.join(', ')}): ${String(last)}`,
        false,
      );
    };
    this.#mapLoading ??= load().finally(() => (this.#mapLoading = null));
    const map = await this.#mapLoading;
    this.#map = map;
    return { map, description: description ?? (await this.#describe(map)) };
  }

  async #describe(map: ClusterMap): Promise<ClusterDescription> {
    const answer = await this.#send({ method: 'GET', path: '/v1/cluster', shard: null, leaderOnly: false });
    void map;
    return JSON.parse(answer.body.toString('utf8')) as ClusterDescription;
  }

  /**
   * Sends until an answer is final. Retried: connection failures before sending, 503 (nothing was
   * done), and — for writes, which always carry a session — timeouts, lost answers and 504.
   */
  async #send(a: Attempt): Promise<Answer> {
    const deadline = Date.now() + this.#operationTimeoutMs;
    let unknownOutcome = false;
    let lastError: RaftKVError | null = null;
    for (let attempt = 0; ; attempt++) {
      a.signal?.throwIfAborted();
      const map = await this.#cluster();
      const candidates =
        a.shard === null
          ? map.apiUrls()
          : a.leaderOnly
            ? map.leaderCandidates(a.shard)
            : map.replicaCandidates(a.shard);
      const url = candidates[attempt % Math.max(1, candidates.length)] ?? this.#endpoints[0]!;
      const left = deadline - Date.now();
      if (left <= 0) break;
      const headers: Record<string, string> = { ...this.#auth, ...a.headers };
      if (a.lane !== undefined) {
        headers[sessionHeaders.client] = a.lane.client;
        headers[sessionHeaders.seq] = String(a.lane.seq);
      }
      try {
        const timeoutMs = Math.min(this.#attemptTimeoutMs, left);
        const res = await request(new URL(a.path, url), {
          method: a.method,
          headers,
          body: a.body,
          dispatcher: this.#agent,
          // undici's own timers are far cheaper per request than an AbortSignal.timeout.
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
          signal: a.signal,
        });
        const answer: Answer = {
          request: `${a.method} ${url}${a.path}`,
          status: res.statusCode,
          headers: res.headers,
          body: Buffer.from(await res.body.arrayBuffer()),
        };
        if (answer.status === errorStatuses.unavailable || answer.status === errorStatuses.timeout) {
          if (answer.status === errorStatuses.timeout) unknownOutcome = true;
          lastError = errorOf(answer, unknownOutcome);
          if (a.shard !== null && a.leaderOnly) map.forgetLeader(a.shard);
          if (attempt % 3 === 2) await this.#refreshMap().catch(() => undefined);
          await delay(Math.min(retryDelayMaxMs, 20 * (attempt + 1)), a.signal);
          continue;
        }
        const node = header(answer, provenanceHeaders.node);
        if (a.shard !== null && a.leaderOnly && node !== null && leaderServed.has(answer.status))
          map.learnLeader(a.shard, node);
        // Nodes joined or left, or replicas moved: learn the new map in the background.
        // (At most once a second: the node asked may not have applied the newer epoch yet.)
        if (
          Number(header(answer, epochHeader) ?? 0) > map.epoch &&
          Date.now() - this.#epochRefreshAt > 1_000
        ) {
          this.#epochRefreshAt = Date.now();
          void this.#refreshMap().catch(() => undefined);
        }
        return answer;
      } catch (err) {
        if (a.signal?.aborted === true) throw err;
        const code = (err as { code?: string }).code;
        const neverSent = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH';
        if (a.method !== 'GET' && !neverSent) unknownOutcome = true;
        lastError = new RaftKVError(
          unknownOutcome ? 'timeout' : 'unreachable',
          null,
          `${a.method} ${url}${a.path}: ${(err as Error).message}`,
          unknownOutcome,
        );
        if (a.shard !== null && a.leaderOnly) map.forgetLeader(a.shard);
        await delay(Math.min(retryDelayMaxMs, 10 * (attempt + 1)), a.signal);
      }
    }
    throw (
      lastError ??
      new RaftKVError('timeout', null, `${a.method} ${a.path} did not complete in time`, unknownOutcome)
    );
  }
}

function keyPath(key: string): string {
  return `/v1/kv/${encodeURIComponent(key)}`;
}

function header(a: Answer, name: string): string | null {
  const v = a.headers[name];
  return typeof v === 'string' ? v : null;
}

/** The answer's provenance; throws `bad_reply` (outcome unknown as given) when it has none. */
function served(a: Answer, outcomeUnknown: boolean): Served {
  const parsed = parseProvenance((name) => header(a, name));
  if (!parsed.ok) throw badReply(a, `no valid provenance (${parsed.problem})`, outcomeUnknown);
  return parsed.at;
}

/** The version of a value's `ETag: "<version>"`, or null without one. */
function etagVersion(a: Answer): string | null {
  const m = /^"([^"]+)"$/.exec(header(a, 'etag') ?? '');
  return m === null ? null : m[1]!;
}

/** The version of a PUT's `{"key","version"}` body, or null when the body is not that. */
function putVersion(a: Answer): string | null {
  try {
    const parsed = JSON.parse(a.body.toString('utf8')) as { version?: unknown };
    return typeof parsed.version === 'string' && parsed.version !== '' ? parsed.version : null;
  } catch {
    return null;
  }
}

/** An answer that lacks what every raftkv node sends: not from a raftkv node, or cut short on the way. */
function badReply(a: Answer, what: string, outcomeUnknown: boolean): RaftKVError {
  return new RaftKVError(
    'bad_reply',
    a.status,
    `${a.request} was answered ${a.status} with ${what}: not the answer of a raftkv node (is a proxy in between?)`,
    outcomeUnknown,
  );
}

function errorOf(a: Answer, outcomeUnknown: boolean): RaftKVError {
  let code: RaftKVErrorCode = 'internal';
  let message = `status ${a.status}`;
  try {
    const parsed = JSON.parse(a.body.toString('utf8')) as { error?: { code?: string; message?: string } };
    if (isErrorCode(parsed.error?.code)) code = parsed.error.code;
    if (parsed.error?.message !== undefined) message = parsed.error.message;
  } catch {}
  return new RaftKVError(code, a.status, message, outcomeUnknown || a.status === errorStatuses.timeout);
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
