/**
 * The client-session table that makes retried writes exactly-once: per client, the results of
 * its recent seqs, so a (client, seq) seen again gets its first result back instead of being
 * applied again. Everything here is decided by log index, so every replica remembers and forgets
 * the same sessions at the same entries; it holds no clock.
 */
import { clientBytesMax, type Session } from './commands.js';
import { KVSnapshotError } from './errors.js';
import { utf8ByteLength } from './keys.js';
import { type KVResult, resultCode, resultFromCode } from './results.js';

/** Bounds of the table. Part of the replicated state: every replica of a group uses the same. */
export interface SessionLimits {
  /** Per client, the results of the seqs in (seqMax − seqWindow, seqMax] are remembered. */
  readonly seqWindow: number;
  /** The most clients remembered; past it, the least recently seen (by log index) is forgotten. */
  readonly clientsMax: number;
  /** A client not seen for this many log entries is forgotten. */
  readonly idleEntriesMax: number;
}

/** The bounds used unless a group is configured otherwise. */
export const defaultSessionLimits: SessionLimits = {
  seqWindow: 256,
  clientsMax: 100_000,
  idleEntriesMax: 1_000_000,
};

/** One client's row as a snapshot holds it: [client, lastIndex, seqMax, seq, code, seq, code, ...]. */
export type ClientRow = [string, number, number, ...number[]];

const sessionExpired: KVResult = { ok: false, code: 'session_expired' };

interface ClientSession {
  /** The log index of the last entry from this client; unique across clients. */
  lastIndex: number;
  /** The highest seq applied for this client. */
  seqMax: number;
  // Invariant: holds exactly the applied seqs in (seqMax − seqWindow, seqMax], as result codes.
  readonly results: Map<number, number>;
}

/**
 * Exactly-once for writes that carry a session. A write's (client, seq) is applied at most once
 * while the client is remembered. When the table cannot tell whether a seq was applied (older
 * than the client's window, or the first seq of an unknown client above `seqWindow`) it answers
 * `session_expired` and applies nothing; the client must then start a new session under a new
 * client id, counting from 1. A forgotten client whose retry still falls in its first window is
 * taken for a new one, so clients must stop retrying well before a session can be forgotten.
 */
export class SessionTable {
  readonly limits: SessionLimits;
  // Invariant: iteration order is ascending lastIndex (least recently seen first); size ≤ clientsMax;
  // no client's lastIndex is at or below (latest index seen by `expire`) − idleEntriesMax.
  readonly #clients = new Map<string, ClientSession>();

  /** Throws RangeError unless every limit is a safe integer ≥ 1. */
  constructor(limits: SessionLimits = defaultSessionLimits) {
    for (const name of ['seqWindow', 'clientsMax', 'idleEntriesMax'] as const) {
      const n = limits[name];
      if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`session limit ${name} must be ≥ 1`);
    }
    this.limits = {
      seqWindow: limits.seqWindow,
      clientsMax: limits.clientsMax,
      idleEntriesMax: limits.idleEntriesMax,
    };
  }

  /** The number of clients remembered. */
  get size(): number {
    return this.#clients.size;
  }

  /** Forgets the clients idle for `idleEntriesMax` entries at `index`. Call once per applied entry, first. */
  expire(index: number): void {
    const floor = index - this.limits.idleEntriesMax;
    for (const [client, s] of this.#clients) {
      if (s.lastIndex > floor) return;
      this.#clients.delete(client);
    }
  }

  /**
   * Runs `write` for the entry at `index` unless `session` says it ran before: then returns the
   * first result again, or `session_expired` if that result is no longer known. A call for a
   * remembered client, or one that runs `write`, marks the client as seen at `index`, which must
   * be above every index passed before.
   */
  once(session: Session, index: number, write: () => KVResult): KVResult {
    const { seqWindow } = this.limits;
    const known = this.#clients.get(session.client);
    if (known === undefined && session.seq > seqWindow) return sessionExpired;
    if (known !== undefined) {
      this.#touch(session.client, known, index);
      const code = known.results.get(session.seq);
      if (code !== undefined) return resultFromCode(code)!;
      if (session.seq <= known.seqMax - seqWindow) return sessionExpired;
    }
    const result = write();
    const s = known ?? { lastIndex: index, seqMax: 0, results: new Map<number, number>() };
    if (known === undefined) this.#touch(session.client, s, index);
    s.results.set(session.seq, resultCode(result));
    if (session.seq > s.seqMax) this.#raiseSeqMax(s, session.seq);
    if (this.#clients.size > this.limits.clientsMax) this.#clients.delete(this.#clients.keys().next().value!);
    return result;
  }

  /** The table as plain rows, least recently seen client first, for a snapshot. */
  rows(): ClientRow[] {
    const rows: ClientRow[] = [];
    for (const [client, s] of this.#clients) {
      const row: ClientRow = [client, s.lastIndex, s.seqMax];
      for (const [seq, code] of s.results) row.push(seq, code);
      rows.push(row);
    }
    return rows;
  }

  /**
   * The table that `rows()` described, for a state whose last applied index is `appliedIndex`.
   * Throws KVSnapshotError if the rows break any invariant of the table.
   */
  static fromRows(limits: SessionLimits, rows: unknown, appliedIndex: number): SessionTable {
    const table = new SessionTable(limits);
    if (!Array.isArray(rows) || rows.length > limits.clientsMax) {
      throw new KVSnapshotError('bad session rows');
    }
    let prevIndex = appliedIndex - limits.idleEntriesMax;
    for (const row of rows) {
      const s = parseRow(row, limits, prevIndex, appliedIndex);
      const client = (row as ClientRow)[0];
      if (table.#clients.has(client)) throw new KVSnapshotError(`session ${client} appears twice`);
      table.#clients.set(client, s);
      prevIndex = s.lastIndex;
    }
    return table;
  }

  /** Calls `visit` for every client, least recently seen first, with its results ascending by seq. */
  forEach(
    visit: (client: string, lastIndex: number, seqMax: number, results: [number, number][]) => void,
  ): void {
    for (const [client, s] of this.#clients) {
      visit(
        client,
        s.lastIndex,
        s.seqMax,
        [...s.results].sort((a, b) => a[0] - b[0]),
      );
    }
  }

  /** Marks `client` as seen at `index`: it becomes the most recently seen. */
  #touch(client: string, s: ClientSession, index: number): void {
    this.#clients.delete(client);
    this.#clients.set(client, s);
    s.lastIndex = index;
  }

  #raiseSeqMax(s: ClientSession, seq: number): void {
    const oldFloor = s.seqMax - this.limits.seqWindow;
    const newFloor = seq - this.limits.seqWindow;
    s.seqMax = seq;
    if (newFloor - oldFloor < s.results.size) {
      for (let old = oldFloor + 1; old <= newFloor; old++) s.results.delete(old);
    } else {
      for (const old of s.results.keys()) if (old <= newFloor) s.results.delete(old);
    }
  }
}

function parseRow(
  row: unknown,
  limits: SessionLimits,
  prevIndex: number,
  appliedIndex: number,
): ClientSession {
  const bad = (why: string) => new KVSnapshotError(`bad session row: ${why}`);
  if (!Array.isArray(row) || row.length < 5 || row.length % 2 === 0) throw bad('shape');
  const [client, lastIndex, seqMax] = row as unknown[];
  if (typeof client !== 'string') throw bad('client');
  const clientBytes = utf8ByteLength(client);
  if (clientBytes < 1 || clientBytes > clientBytesMax) throw bad('client');
  if (!isIndex(lastIndex) || lastIndex <= prevIndex || lastIndex > appliedIndex) throw bad('lastIndex order');
  if (!isIndex(seqMax)) throw bad('seqMax');
  const results = new Map<number, number>();
  for (let i = 3; i < row.length; i += 2) {
    const seq: unknown = row[i];
    const code: unknown = row[i + 1];
    if (!isIndex(seq) || seq > seqMax || seq <= seqMax - limits.seqWindow)
      throw bad('seq outside the window');
    if (typeof code !== 'number' || resultFromCode(code) === null || code > lastIndex) throw bad('result');
    if (results.has(seq)) throw bad('seq twice');
    results.set(seq, code);
  }
  if (!results.has(seqMax)) throw bad('seqMax has no result');
  return { lastIndex, seqMax, results };
}

function isIndex(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 1;
}
