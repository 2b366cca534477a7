/**
 * The public surface of the key-value state machine: what the node and API layers may use.
 * Everything else in src/kv is internal to it.
 */
export {
  type Condition,
  checkpointLeasesMax,
  clientBytesMax,
  commandProblem,
  decodeCommand,
  encodeCommand,
  type KeyCommand,
  type KVCommand,
  type LeaseCommand,
  type Session,
} from './commands.js';
export { KVCommandError, KVInvariantError, KVSnapshotError } from './errors.js';
export { compareKeys, keyBytesMax, keyProblem, utf8ByteLength } from './keys.js';
export {
  type LeaseId,
  leaseIdMax,
  leaseIdProblem,
  leaseIdText,
  leaseTtlMaxMs,
  leaseTtlMinMs,
  leaseTtlProblem,
  parseLeaseId,
} from './leases.js';
export { type KVFailureCode, type KVResult, versionOf } from './results.js';
export { defaultSessionLimits, type SessionLimits } from './sessions.js';
export {
  type KVChange,
  type KVEntry,
  type KVItem,
  type KVListPage,
  KVStateMachine,
  type LeaseEvent,
} from './state-machine.js';
