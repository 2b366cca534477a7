/**
 * The commands of the key-value state machine and their log encoding. A command is validated
 * before it is proposed (`commandProblem`, `encodeCommand`); `decodeCommand` validates again and
 * throws, because a malformed command in the log is a bug. Encoded as a msgpack array, not a map.
 */
import { Packr, Unpackr } from 'msgpackr';
import { KVCommandError } from './errors.js';
import { keyProblem, utf8ByteLength } from './keys.js';
import { type LeaseId, leaseIdProblem, leaseTtlProblem } from './leases.js';

/**
 * Preconditions of a write (README's API). `ifMatch`: the key must exist with exactly this version.
 * `ifNoneMatch`: the key must be absent. Both are checked when both are set.
 */
export interface Condition {
  readonly ifMatch: string | null;
  readonly ifNoneMatch: boolean;
}

/**
 * Who sent a write, for exactly-once retries: `client` names the client for the whole session
 * (1–`clientBytesMax` bytes of UTF-8) and `seq` (a safe integer ≥ 1) numbers its writes. A retry
 * reuses the (client, seq) of the attempt it repeats.
 */
export interface Session {
  readonly client: string;
  readonly seq: number;
}

/**
 * A write to one key, or a command about a lease. `session: null` writes are applied every time
 * they appear in the log. A put with a `lease` attaches the key to that lease (which must exist
 * on the shard); a put without one detaches it from any.
 */
export type KVCommand =
  | {
      readonly op: 'put';
      readonly key: string;
      readonly value: Uint8Array;
      readonly cond: Condition;
      readonly session: Session | null;
      readonly lease?: LeaseId | null;
    }
  | {
      readonly op: 'delete';
      readonly key: string;
      readonly cond: Condition;
      readonly session: Session | null;
    }
  | LeaseCommand;

/** A write to one key: a put or a delete. */
export type KeyCommand = Exclude<KVCommand, LeaseCommand>;

/**
 * The lease commands, proposed on every shard (a lease's keys may live on any): `leaseGrant`
 * creates it, `leaseKeepalive` renews it, `leaseRevoke` deletes it with all its keys on the
 * shard at once (`expired`: proposed by the shard's leader because it was not kept alive), and
 * `leaseCheckpoint` records how long each listed lease had left when the leader proposed it, with
 * the leader's applied index then (`asOf`: a lease renewed in the log after it keeps its renewal),
 * so a replica that replays it after a restart does not count a lease's whole time again.
 */
export type LeaseCommand =
  | { readonly op: 'leaseGrant'; readonly lease: LeaseId; readonly ttlMs: number }
  | { readonly op: 'leaseKeepalive'; readonly lease: LeaseId }
  | { readonly op: 'leaseRevoke'; readonly lease: LeaseId; readonly expired: boolean }
  | {
      readonly op: 'leaseCheckpoint';
      readonly asOf: number;
      readonly leases: readonly LeaseId[];
      readonly remainingMs: readonly number[];
    };

/** The most bytes a session's client id may take in UTF-8. */
export const clientBytesMax = 128;

const putTag = 1;
const deleteTag = 2;
const leasedPutTag = 3;
const grantTag = 4;
const keepaliveTag = 5;
const revokeTag = 6;
const checkpointTag = 7;

/** The most leases one checkpoint command lists. */
export const checkpointLeasesMax = 10_000;

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, copyBuffers: true, int64AsType: 'number' });

/** Why `cmd` may not be proposed, or null if it may. Never throws, whatever `cmd` holds. */
export function commandProblem(cmd: KVCommand): string | null {
  if (typeof cmd !== 'object' || cmd === null) return 'command is not an object';
  if (cmd.op !== 'put' && cmd.op !== 'delete') return leaseCommandProblem(cmd);
  if (typeof cmd.key !== 'string') return 'key is not a string';
  const badKey = keyProblem(cmd.key);
  if (badKey !== null) return badKey;
  if (cmd.op === 'put' && !(cmd.value instanceof Uint8Array)) return 'value is not a Uint8Array';
  if (cmd.op === 'put' && cmd.lease !== undefined && cmd.lease !== null) {
    const badLease = leaseIdProblem(cmd.lease);
    if (badLease !== null) return badLease;
  }
  return conditionProblem(cmd.cond) ?? sessionProblem(cmd.session);
}

function leaseCommandProblem(cmd: LeaseCommand): string | null {
  switch (cmd.op) {
    case 'leaseGrant':
      return leaseIdProblem(cmd.lease) ?? leaseTtlProblem(cmd.ttlMs);
    case 'leaseKeepalive':
      return leaseIdProblem(cmd.lease);
    case 'leaseRevoke':
      return (
        leaseIdProblem(cmd.lease) ?? (typeof cmd.expired === 'boolean' ? null : 'expired is not a boolean')
      );
    case 'leaseCheckpoint': {
      if (!Number.isSafeInteger(cmd.asOf) || cmd.asOf < 0) return 'asOf is not a safe integer ≥ 0';
      if (!Array.isArray(cmd.leases) || !Array.isArray(cmd.remainingMs))
        return 'checkpoint lists are not arrays';
      if (cmd.leases.length !== cmd.remainingMs.length) return 'checkpoint lists differ in length';
      if (cmd.leases.length > checkpointLeasesMax)
        return `a checkpoint lists at most ${checkpointLeasesMax} leases`;
      for (const id of cmd.leases) if (leaseIdProblem(id) !== null) return leaseIdProblem(id);
      for (const ms of cmd.remainingMs)
        if (!Number.isSafeInteger(ms) || ms < 0) return 'remainingMs must be safe integers ≥ 0';
      return null;
    }
    default:
      return 'op is neither put, delete nor a lease command';
  }
}

/** The log form of `cmd`. Throws KVCommandError if `commandProblem(cmd)` names a problem. */
export function encodeCommand(cmd: KVCommand): Uint8Array {
  const problem = commandProblem(cmd);
  if (problem !== null) throw new KVCommandError(problem);
  switch (cmd.op) {
    case 'leaseGrant':
      return packr.pack([grantTag, cmd.lease, cmd.ttlMs]);
    case 'leaseKeepalive':
      return packr.pack([keepaliveTag, cmd.lease]);
    case 'leaseRevoke':
      return packr.pack([revokeTag, cmd.lease, cmd.expired]);
    case 'leaseCheckpoint':
      return packr.pack([checkpointTag, cmd.asOf, cmd.leases, cmd.remainingMs]);
  }
  const { ifMatch, ifNoneMatch } = cmd.cond;
  const lease = cmd.op === 'put' ? (cmd.lease ?? null) : null;
  const head =
    cmd.op === 'delete'
      ? [deleteTag, cmd.key, ifMatch, ifNoneMatch]
      : lease === null
        ? [putTag, cmd.key, cmd.value, ifMatch, ifNoneMatch]
        : [leasedPutTag, cmd.key, cmd.value, ifMatch, ifNoneMatch, lease];
  if (cmd.session !== null) head.push(cmd.session.client, cmd.session.seq);
  return packr.pack(head);
}

/**
 * The command `bytes` encode. Throws KVCommandError on anything that `encodeCommand` would not
 * have produced. A put's value is a fresh copy, sharing no memory with `bytes`.
 */
export function decodeCommand(bytes: Uint8Array): KVCommand {
  let raw: unknown;
  try {
    raw = unpackr.unpack(bytes);
  } catch (err) {
    throw new KVCommandError(`command is not msgpack: ${(err as Error).message}`);
  }
  if (!Array.isArray(raw)) throw new KVCommandError('command is not an array');
  const cmd = decodeTagged(raw);
  if (cmd === null) throw new KVCommandError(`command has unknown tag ${String(raw[0])}`);
  const problem = commandProblem(cmd);
  if (problem !== null) throw new KVCommandError(problem);
  return cmd;
}

function decodeTagged(raw: unknown[]): KVCommand | null {
  const fields = (n: number) => {
    if (raw.length !== n) throw new KVCommandError(`command ${String(raw[0])} has ${raw.length} fields`);
  };
  switch (raw[0]) {
    case putTag:
      if (raw.length !== 5 && raw.length !== 7) throw new KVCommandError(`put has ${raw.length} fields`);
      return decodePut(raw, null);
    case leasedPutTag:
      if (raw.length !== 6 && raw.length !== 8)
        throw new KVCommandError(`leased put has ${raw.length} fields`);
      return decodePut(
        raw.filter((_, i) => i !== 5),
        raw[5],
      );
    case deleteTag:
      return decodeDelete(raw);
    case grantTag:
      fields(3);
      return { op: 'leaseGrant', lease: raw[1] as number, ttlMs: raw[2] as number };
    case keepaliveTag:
      fields(2);
      return { op: 'leaseKeepalive', lease: raw[1] as number };
    case revokeTag:
      fields(3);
      return { op: 'leaseRevoke', lease: raw[1] as number, expired: raw[2] as boolean };
    case checkpointTag:
      fields(4);
      return {
        op: 'leaseCheckpoint',
        asOf: raw[1] as number,
        leases: raw[2] as number[],
        remainingMs: raw[3] as number[],
      };
    default:
      return null;
  }
}

/** A put's fields without its lease (`[tag, key, value, ifMatch, ifNoneMatch, client?, seq?]`). */
function decodePut(raw: unknown[], lease: unknown): KVCommand {
  const [, key, value, ifMatch, ifNoneMatch, client, seq] = raw;
  if (!(value instanceof Uint8Array)) throw new KVCommandError('value is not binary');
  return {
    op: 'put',
    key: key as string,
    value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
    cond: { ifMatch: ifMatch as string | null, ifNoneMatch: ifNoneMatch as boolean },
    session: raw.length === 7 ? { client: client as string, seq: seq as number } : null,
    ...(lease === null ? {} : { lease: lease as number }),
  };
}

function decodeDelete(raw: unknown[]): KVCommand {
  if (raw.length !== 4 && raw.length !== 6) throw new KVCommandError(`delete has ${raw.length} fields`);
  const [, key, ifMatch, ifNoneMatch, client, seq] = raw;
  return {
    op: 'delete',
    key: key as string,
    cond: { ifMatch: ifMatch as string | null, ifNoneMatch: ifNoneMatch as boolean },
    session: raw.length === 6 ? { client: client as string, seq: seq as number } : null,
  };
}

function conditionProblem(cond: Condition): string | null {
  if (typeof cond !== 'object' || cond === null) return 'cond is not an object';
  if (cond.ifMatch !== null && (typeof cond.ifMatch !== 'string' || utf8ByteLength(cond.ifMatch) < 0)) {
    return 'ifMatch is neither null nor a well-formed string';
  }
  if (typeof cond.ifNoneMatch !== 'boolean') return 'ifNoneMatch is not a boolean';
  return null;
}

function sessionProblem(session: Session | null): string | null {
  if (session === null) return null;
  if (typeof session !== 'object') return 'session is neither null nor an object';
  if (typeof session.client !== 'string') return 'session client is not a string';
  const bytes = utf8ByteLength(session.client);
  if (bytes < 1 || bytes > clientBytesMax) return `session client must be 1–${clientBytesMax} bytes of UTF-8`;
  if (!Number.isSafeInteger(session.seq) || session.seq < 1) return 'session seq is not a safe integer ≥ 1';
  return null;
}
