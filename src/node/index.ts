/**
 * The node layer's public surface for the client API: the node, its error catalogue, and the
 * key-value vocabulary (commands, keys, results) that requests are validated and answered with.
 */
export {
  type Condition,
  compareKeys,
  type KeyCommand,
  type KVCommand,
  type KVEntry,
  type KVFailureCode,
  type KVItem,
  type KVResult,
  keyProblem,
  type LeaseCommand,
  type LeaseId,
  leaseIdText,
  leaseTtlMaxMs,
  leaseTtlMinMs,
  leaseTtlProblem,
  parseLeaseId,
  type Session,
  utf8ByteLength,
} from '../kv/index.js';
export {
  groupLabel,
  groupName,
  groupOf,
  groupPath,
  type MembershipCommand,
  type MembershipResult,
  type MembershipState,
  membershipGroup,
  type NodeHealth,
  type NodeRecord,
  type NodeState,
  placementOf,
  planLeaders,
  planSteps,
  removedBy,
  type Step,
} from '../membership/index.js';
export { isMember } from '../raft/conf.js';
export type { ConfState, NodeId } from '../raft/types.js';
export * from './errors.js';
export { InFlightLimit } from './in-flight.js';
export { NodeMetrics, type OverloadReason } from './metrics.js';
export {
  type GroupStatus,
  type NodeStatus,
  type Provenance,
  RaftKVNode,
  type ShardRoute,
  StartupError,
} from './node.js';
export type { LeaderChange, LeaderChangeKind, WindowState } from './observer.js';
export { NotSentError, type ShardServer } from './remote.js';
