/**
 * The public surface of the key-value state machine: what the node and API layers may use.
 * Everything else in src/kv is internal to it.
 */
export {
  type Condition,
  clientBytesMax,
  commandProblem,
  decodeCommand,
  encodeCommand,
  type KvCommand,
  type Session,
} from './commands.js';
export { KvCommandError, KvInvariantError, KvSnapshotError } from './errors.js';
export { compareKeys, keyBytesMax, keyProblem, utf8ByteLength } from './keys.js';
export { type KvFailureCode, type KvResult, versionOf } from './results.js';
export { defaultSessionLimits, type SessionLimits } from './sessions.js';
export { type KvEntry, type KvItem, type KvListPage, KvStateMachine } from './state-machine.js';
