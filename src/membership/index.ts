/** The membership layer's public surface: the replicated node table and the rebalancer's plan. */
export { encodeMembershipCommand, MembershipMachine } from './machine.js';
export {
  groupLabel,
  groupName,
  groupOf,
  groupPath,
  membershipGroup,
  membershipVotersMax,
  membershipVotersWanted,
  type NodeHealth,
  type PlanInput,
  placementOf,
  planLeaders,
  planSteps,
  removedBy,
  type Step,
} from './plan.js';
export {
  applyMembership,
  emptyMembership,
  type MembershipCommand,
  type MembershipResult,
  type MembershipState,
  type NodeRecord,
  type NodeState,
  type ShardPlacement,
} from './table.js';
