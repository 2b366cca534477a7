/**
 * The commands of the key-value state machine and their log encoding. A command is validated
 * before it is proposed (`commandProblem`, `encodeCommand`); `decodeCommand` validates again and
 * throws, because a malformed command in the log is a bug. Encoded as a msgpack array, not a map.
 */
import { Packr, Unpackr } from 'msgpackr';
import { KVCommandError } from './errors.js';
import { keyProblem, utf8ByteLength } from './keys.js';

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

/** A write to one key. `session: null` writes are applied every time they appear in the log. */
export type KVCommand =
  | {
      readonly op: 'put';
      readonly key: string;
      readonly value: Uint8Array;
      readonly cond: Condition;
      readonly session: Session | null;
    }
  | {
      readonly op: 'delete';
      readonly key: string;
      readonly cond: Condition;
      readonly session: Session | null;
    };

/** The most bytes a session's client id may take in UTF-8. */
export const clientBytesMax = 128;

const putTag = 1;
const deleteTag = 2;

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, copyBuffers: true, int64AsType: 'number' });

/** Why `cmd` may not be proposed, or null if it may. Never throws, whatever `cmd` holds. */
export function commandProblem(cmd: KVCommand): string | null {
  if (typeof cmd !== 'object' || cmd === null) return 'command is not an object';
  if (cmd.op !== 'put' && cmd.op !== 'delete') return 'op is neither put nor delete';
  if (typeof cmd.key !== 'string') return 'key is not a string';
  const badKey = keyProblem(cmd.key);
  if (badKey !== null) return badKey;
  if (cmd.op === 'put' && !(cmd.value instanceof Uint8Array)) return 'value is not a Uint8Array';
  return conditionProblem(cmd.cond) ?? sessionProblem(cmd.session);
}

/** The log form of `cmd`. Throws KVCommandError if `commandProblem(cmd)` names a problem. */
export function encodeCommand(cmd: KVCommand): Uint8Array {
  const problem = commandProblem(cmd);
  if (problem !== null) throw new KVCommandError(problem);
  const { ifMatch, ifNoneMatch } = cmd.cond;
  const head =
    cmd.op === 'put'
      ? [putTag, cmd.key, cmd.value, ifMatch, ifNoneMatch]
      : [deleteTag, cmd.key, ifMatch, ifNoneMatch];
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
  const cmd = raw[0] === putTag ? decodePut(raw) : raw[0] === deleteTag ? decodeDelete(raw) : null;
  if (cmd === null) throw new KVCommandError(`command has unknown tag ${String(raw[0])}`);
  const problem = commandProblem(cmd);
  if (problem !== null) throw new KVCommandError(problem);
  return cmd;
}

function decodePut(raw: unknown[]): KVCommand {
  if (raw.length !== 5 && raw.length !== 7) throw new KVCommandError(`put has ${raw.length} fields`);
  const [, key, value, ifMatch, ifNoneMatch, client, seq] = raw;
  if (!(value instanceof Uint8Array)) throw new KVCommandError('value is not binary');
  return {
    op: 'put',
    key: key as string,
    value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
    cond: { ifMatch: ifMatch as string | null, ifNoneMatch: ifNoneMatch as boolean },
    session: raw.length === 7 ? { client: client as string, seq: seq as number } : null,
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
