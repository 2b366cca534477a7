/**
 * The replicated key-value state machine of one shard group: the key map with versions, the
 * sorted key index for listing, and the session table, advanced only by committed log entries in
 * order. Deterministic: the same entries give the same state and results on every replica. It
 * does no I/O and holds no clock; the node applies entries and serves reads from here.
 */
import { createHash } from 'node:crypto';
import { Packr, Unpackr } from 'msgpackr';
import { decodeCommand, type KeyCommand, type LeaseCommand } from './commands.js';
import { KVInvariantError, KVSnapshotError } from './errors.js';
import { compareKeys, keyProblem, utf8ByteLength } from './keys.js';
import { type LeaseId, LeaseTable, leaseIdProblem, leaseTtlProblem } from './leases.js';
import { type KVResult, versionOf } from './results.js';
import { defaultSessionLimits, type SessionLimits, SessionTable } from './sessions.js';
import { SortedKeys } from './sorted-keys.js';

/** A key's current value and version. The caller must not modify `value`. */
export interface KVEntry {
  readonly value: Uint8Array;
  readonly version: string;
}

/** One key of a list, with its current value and version. The caller must not modify `value`. */
export interface KVItem {
  readonly key: string;
  readonly value: Uint8Array;
  readonly version: string;
}

/** A page of keys in `compareKeys` order; `more` says whether keys past the last item match. */
export interface KVListPage {
  readonly items: KVItem[];
  readonly more: boolean;
}

interface StoredEntry {
  readonly value: Uint8Array;
  /** The log index of the write that set this value; the version is its decimal form. */
  readonly versionIndex: number;
}

/** Format 1: keys and sessions; format 2 adds leases (written only when the shard holds any). */
const snapshotFormat = 2;
const snapshotFormatWithoutLeases = 1;
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, copyBuffers: true, int64AsType: 'number' });
const preconditionFailed: KVResult = { ok: false, code: 'precondition_failed' };
const notFound: KVResult = { ok: false, code: 'not_found' };
const deleted: KVResult = { ok: true, op: 'delete' };
const leaseNotFound: KVResult = { ok: false, code: 'lease_not_found' };

/**
 * The state machine. The node calls `apply` (commands) or `applyNoop` (entries without a command)
 * for every committed entry, in log order, each index once; then `appliedIndex` is the group's
 * applied index. Reads (`get`, `list`, `size`) see the state after the last applied entry.
 */
/** One change the machine applied: a put (its value; its version is `index`) or a delete. */
export interface KVChange {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly value: Uint8Array | null;
  /** The log index of the write. */
  readonly index: number;
  /** How many more changes the same entry makes after this one (a lease revoke's deletes); absent: none. */
  readonly more?: number;
}

/**
 * What an applied lease command means for the lease's timer (node/lease-timers.ts), which lives
 * outside the machine: `renewed` (granted or kept alive at log index `index`: a whole `ttlMs`
 * from now), `checkpoint` (`remainingMs` from now, unless renewed after index `asOf`),
 * `revoked` (gone, with its keys).
 */
export type LeaseEvent =
  | { readonly type: 'renewed'; readonly lease: LeaseId; readonly ttlMs: number; readonly index: number }
  | {
      readonly type: 'checkpoint';
      readonly lease: LeaseId;
      readonly remainingMs: number;
      readonly asOf: number;
    }
  | { readonly type: 'revoked'; readonly lease: LeaseId };

export class KVStateMachine {
  // Invariant: appliedIndex only grows; every stored versionIndex is ≤ appliedIndex.
  #appliedIndex = 0;
  readonly #map = new Map<string, StoredEntry>();
  // Invariant: holds exactly the keys of #map.
  #index = new SortedKeys();
  #sessions: SessionTable;
  /** Hears every change applied (not part of the state: a snapshot does not carry it). */
  #onChange: ((c: KVChange) => void) | null = null;
  // Invariant: every key attached to a lease is a key of #map.
  #leases = new LeaseTable();
  /** Hears every lease command applied (not part of the state). */
  #onLease: ((e: LeaseEvent) => void) | null = null;

  /** `listener` hears what every applied lease command means for the lease's timer. */
  onLease(listener: ((e: LeaseEvent) => void) | null): void {
    this.#onLease = listener;
  }

  /** The number of leases this shard holds. */
  get leaseCount(): number {
    return this.#leases.size;
  }

  /** Every lease this shard holds (ascending id) with its time to live. */
  leases(): IterableIterator<[LeaseId, number]> {
    return this.#leases.entries();
  }

  /** The time to live of lease `id`, or null if this shard does not hold it. */
  leaseTtl(id: LeaseId): number | null {
    return this.#leases.ttlOf(id);
  }

  /** The lease `key` is attached to, or null. */
  leaseOf(key: string): LeaseId | null {
    return this.#leases.leaseOf(key);
  }

  /**
   * `listener` hears every put and delete that changed the state, as it is applied, in log
   * order: what a watch feed is made of. Writes that changed nothing (a failed condition, a
   * delete of an absent key, a retried write its session answers) are not changes.
   */
  onChange(listener: ((c: KVChange) => void) | null): void {
    this.#onChange = listener;
  }

  /** A machine with no keys, no sessions and applied index 0. Throws RangeError on bad limits. */
  constructor(limits: SessionLimits = defaultSessionLimits) {
    this.#sessions = new SessionTable(limits);
  }

  /** The index of the last entry applied (0 before any). */
  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** The number of keys. */
  get size(): number {
    return this.#map.size;
  }

  /** The number of client sessions remembered. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** The session bounds this machine was built with; part of its replicated state. */
  get sessionLimits(): SessionLimits {
    return this.#sessions.limits;
  }

  /**
   * Applies the command in `data`, the entry at log index `index`, and returns its result.
   * A put's version is `versionOf(index)`. Throws KVInvariantError unless `index` is a safe
   * integer above `appliedIndex`, and KVCommandError (changing nothing) if `data` is malformed.
   */
  apply(index: number, data: Uint8Array): KVResult {
    this.#checkNext(index);
    const cmd = decodeCommand(data);
    this.#appliedIndex = index;
    this.#sessions.expire(index);
    if (cmd.op !== 'put' && cmd.op !== 'delete') return this.#executeLease(cmd, index);
    if (cmd.session === null) return this.#execute(cmd, index);
    return this.#sessions.once(cmd.session, index, () => this.#execute(cmd, index));
  }

  /** Records that the entry at `index` carries no command (e.g. a new leader's no-op). Checked as `apply`. */
  applyNoop(index: number): void {
    this.#checkNext(index);
    this.#appliedIndex = index;
    this.#sessions.expire(index);
  }

  /** The current value and version of `key`, or null if it is absent. */
  get(key: string): KVEntry | null {
    const entry = this.#map.get(key);
    return entry === undefined ? null : { value: entry.value, version: versionOf(entry.versionIndex) };
  }

  /**
   * Up to `limit` keys that start with `prefix` and, if `after` is not null, sort after it, in
   * `compareKeys` (UTF-8 byte) order. `more` is true when further keys match. Costs O(log n + limit).
   * Throws RangeError if `prefix` or `after` holds a lone surrogate or `limit` is not a safe
   * integer ≥ 0.
   */
  list(prefix: string, after: string | null, limit: number): KVListPage {
    if (utf8ByteLength(prefix) < 0) throw new RangeError('prefix holds a lone surrogate');
    if (after !== null && utf8ByteLength(after) < 0) throw new RangeError('after holds a lone surrogate');
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError('limit must be a safe integer ≥ 0');
    const fromAfter = after !== null && compareKeys(after, prefix) >= 0;
    const items: KVItem[] = [];
    for (const key of this.#index.from(fromAfter ? after : prefix, fromAfter)) {
      if (!key.startsWith(prefix)) break;
      if (items.length === limit) return { items, more: true };
      const entry = this.#map.get(key)!;
      items.push({ key, value: entry.value, version: versionOf(entry.versionIndex) });
    }
    return { items, more: false };
  }

  /** The whole state (keys, versions, values, sessions, limits, applied index) as bytes for `restore`. */
  snapshot(): Uint8Array {
    const keys: string[] = [];
    const versions: number[] = [];
    const values: Uint8Array[] = [];
    for (const key of this.#index.from('', false)) {
      const entry = this.#map.get(key)!;
      keys.push(key);
      versions.push(entry.versionIndex);
      values.push(entry.value);
    }
    const { seqWindow, clientsMax, idleEntriesMax } = this.#sessions.limits;
    const common = [[seqWindow, clientsMax, idleEntriesMax], keys, versions, values, this.#sessions.rows()];
    if (this.#leases.size === 0)
      return packr.pack([snapshotFormatWithoutLeases, this.#appliedIndex, ...common]);
    const leaseIds: number[] = [];
    const ttls: number[] = [];
    for (const [id, ttlMs] of this.#leases.entries()) {
      leaseIds.push(id);
      ttls.push(ttlMs);
    }
    const keyLeases = keys.map((key) => this.#leases.leaseOf(key) ?? 0);
    return packr.pack([snapshotFormat, this.#appliedIndex, ...common, leaseIds, ttls, keyLeases]);
  }

  /**
   * The machine that `snapshot()` described: equal state, equal `digest()`, and the same results
   * for every entry applied from then on. Throws KVSnapshotError if `data` is not such a snapshot.
   */
  static restore(data: Uint8Array): KVStateMachine {
    let raw: unknown;
    try {
      raw = unpackr.unpack(data);
    } catch (err) {
      throw new KVSnapshotError(`snapshot is not msgpack: ${(err as Error).message}`);
    }
    const known =
      Array.isArray(raw) &&
      ((raw.length === 7 && raw[0] === snapshotFormatWithoutLeases) ||
        (raw.length === 10 && raw[0] === snapshotFormat));
    if (!known) throw new KVSnapshotError('snapshot has an unknown format');
    const [, appliedIndex, limits, keys, versions, values, rows, leaseIds, ttls, keyLeases] =
      raw as unknown[];
    if (!Number.isSafeInteger(appliedIndex) || (appliedIndex as number) < 0) {
      throw new KVSnapshotError('bad applied index');
    }
    if (!Array.isArray(limits) || limits.length !== 3) throw new KVSnapshotError('bad session limits');
    const [seqWindow, clientsMax, idleEntriesMax] = limits as number[];
    let machine: KVStateMachine;
    try {
      machine = new KVStateMachine({
        seqWindow: seqWindow!,
        clientsMax: clientsMax!,
        idleEntriesMax: idleEntriesMax!,
      });
    } catch (err) {
      throw new KVSnapshotError((err as Error).message);
    }
    machine.#appliedIndex = appliedIndex as number;
    machine.#restoreKeys(keys, versions, values);
    machine.#sessions = SessionTable.fromRows(machine.#sessions.limits, rows, machine.#appliedIndex);
    if (leaseIds !== undefined) machine.#restoreLeases(keys as string[], leaseIds, ttls, keyLeases);
    return machine;
  }

  /**
   * A SHA-256 hex digest of the whole state: equal on two machines exactly when their keys,
   * values, versions, sessions, limits and applied index are equal. Linear in the state's size;
   * for tests and consistency checks, not for every request.
   */
  digest(): string {
    const hash = createHash('sha256');
    const { seqWindow, clientsMax, idleEntriesMax } = this.#sessions.limits;
    hash.update(`kv ${this.#appliedIndex} ${seqWindow} ${clientsMax} ${idleEntriesMax} ${this.#map.size}\n`);
    for (const key of this.#index.from('', false)) {
      const entry = this.#map.get(key)!;
      hash.update(`${key.length}:${key} ${entry.versionIndex} ${entry.value.byteLength}\n`);
      hash.update(entry.value);
    }
    this.#sessions.forEach((client, lastIndex, seqMax, results) => {
      hash.update(`${client.length}:${client} ${lastIndex} ${seqMax} ${results.join(' ')}\n`);
    });
    for (const [id, ttlMs] of this.#leases.entries()) hash.update(`lease ${id} ${ttlMs}\n`);
    if (this.#leases.size > 0) {
      for (const key of this.#index.from('', false)) hash.update(`${this.#leases.leaseOf(key) ?? 0}\n`);
    }
    return hash.digest('hex');
  }

  #checkNext(index: number): void {
    if (!Number.isSafeInteger(index) || index <= this.#appliedIndex) {
      throw new KVInvariantError(
        `entry ${index} applied after entry ${this.#appliedIndex}: indexes must be safe integers and increase`,
      );
    }
  }

  #execute(cmd: KeyCommand, index: number): KVResult {
    const lease = cmd.op === 'put' ? (cmd.lease ?? null) : null;
    if (lease !== null && !this.#leases.has(lease)) return leaseNotFound;
    const current = this.#map.get(cmd.key);
    if (
      cmd.cond.ifMatch !== null &&
      (current === undefined || versionOf(current.versionIndex) !== cmd.cond.ifMatch)
    ) {
      return preconditionFailed;
    }
    if (cmd.cond.ifNoneMatch && current !== undefined) return preconditionFailed;
    if (cmd.op === 'delete') {
      if (current === undefined) return notFound;
      this.#deleteKey(cmd.key, index);
      return deleted;
    }
    if (current === undefined) this.#index.insert(cmd.key);
    this.#map.set(cmd.key, { value: cmd.value, versionIndex: index });
    this.#leases.attach(cmd.key, lease);
    this.#onChange?.({ type: 'put', key: cmd.key, value: cmd.value, index });
    return { ok: true, op: 'put', version: versionOf(index) };
  }

  #deleteKey(key: string, index: number, more = 0): void {
    this.#map.delete(key);
    this.#index.delete(key);
    this.#leases.detach(key);
    this.#onChange?.(
      more === 0
        ? { type: 'delete', key, value: null, index }
        : { type: 'delete', key, value: null, index, more },
    );
  }

  #executeLease(cmd: LeaseCommand, index: number): KVResult {
    switch (cmd.op) {
      case 'leaseGrant':
        if (!this.#leases.grant(cmd.lease, cmd.ttlMs)) return { ok: false, code: 'lease_exists' };
        this.#onLease?.({ type: 'renewed', lease: cmd.lease, ttlMs: cmd.ttlMs, index });
        return { ok: true, op: 'lease', ttlMs: cmd.ttlMs };
      case 'leaseKeepalive': {
        const ttlMs = this.#leases.ttlOf(cmd.lease);
        if (ttlMs === null) return leaseNotFound;
        this.#onLease?.({ type: 'renewed', lease: cmd.lease, ttlMs, index });
        return { ok: true, op: 'lease', ttlMs };
      }
      case 'leaseRevoke': {
        const ttlMs = this.#leases.ttlOf(cmd.lease);
        const keys = this.#leases.revoke(cmd.lease);
        if (keys === null || ttlMs === null) return leaseNotFound;
        // One entry deletes them all: no replica ever shows some of the lease's keys gone and not others.
        keys.forEach((key, i) => {
          this.#deleteKey(key, index, keys.length - 1 - i);
        });
        this.#onLease?.({ type: 'revoked', lease: cmd.lease });
        return { ok: true, op: 'lease', ttlMs };
      }
      case 'leaseCheckpoint':
        cmd.leases.forEach((lease, i) => {
          if (this.#leases.has(lease))
            this.#onLease?.({ type: 'checkpoint', lease, remainingMs: cmd.remainingMs[i]!, asOf: cmd.asOf });
        });
        return { ok: true, op: 'lease', ttlMs: 0 };
    }
  }

  #restoreLeases(keys: string[], leaseIds: unknown, ttls: unknown, keyLeases: unknown): void {
    const bad = (why: string) => new KVSnapshotError(`bad lease table: ${why}`);
    if (!Array.isArray(leaseIds) || !Array.isArray(ttls) || !Array.isArray(keyLeases)) throw bad('shape');
    if (ttls.length !== leaseIds.length || keyLeases.length !== keys.length) throw bad('lengths differ');
    leaseIds.forEach((id: unknown, i) => {
      if (leaseIdProblem(id) !== null || leaseTtlProblem(ttls[i]) !== null) throw bad(`lease ${i}`);
      if (!this.#leases.grant(id as number, ttls[i] as number)) throw bad(`lease ${i} repeated`);
    });
    keyLeases.forEach((id: unknown, i) => {
      if (id === 0) return;
      if (!this.#leases.has(id as number)) throw bad(`key ${i} names a lease the table lacks`);
      this.#leases.attach(keys[i]!, id as number);
    });
  }

  #restoreKeys(keys: unknown, versions: unknown, values: unknown): void {
    const bad = (why: string) => new KVSnapshotError(`bad key map: ${why}`);
    if (!Array.isArray(keys) || !Array.isArray(versions) || !Array.isArray(values)) throw bad('shape');
    if (versions.length !== keys.length || values.length !== keys.length) throw bad('lengths differ');
    for (let i = 0; i < keys.length; i++) {
      const key: unknown = keys[i];
      const versionIndex: unknown = versions[i];
      const value: unknown = values[i];
      if (typeof key !== 'string' || keyProblem(key) !== null) throw bad(`key ${i}`);
      if (!Number.isSafeInteger(versionIndex) || (versionIndex as number) < 1) throw bad(`version ${i}`);
      if ((versionIndex as number) > this.#appliedIndex) throw bad(`version ${i} above the applied index`);
      if (!(value instanceof Uint8Array)) throw bad(`value ${i}`);
      this.#map.set(key, {
        value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
        versionIndex: versionIndex as number,
      });
    }
    const index = SortedKeys.fromSorted(keys as string[]);
    if (index === null) throw bad('keys are not strictly ascending');
    this.#index = index;
  }
}
