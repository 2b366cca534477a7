/**
 * Commitment by a majority of voters (§5.3, thesis §4.1): whenever a leader moves its commit index,
 * a majority of the voters of its configuration at that moment hold the entry there durably.
 * The configuration is read from the leader's log by the rule, and who holds what from the
 * members' stores (synced writes only), never from the leader's own counting: a learner, or a
 * member acknowledged from memory, counted in a quorum shows here. It only observes.
 */
import { quorumSize } from '../../src/raft/quorum.js';
import type { Index, NodeId, Term } from '../../src/raft/types.js';
import { SafetyViolation } from './safety-violation.js';
import { describeConf, latestConf } from './sim-conf.js';
import type { SimMember } from './sim-member.js';

/** The commit index a leader of `term` was last checked at. */
interface Checked {
  readonly term: Term;
  commit: Index;
}

/** Call `afterCore` after every call into a member's core, and before its configuration changes. */
export class CommitQuorumCheck {
  readonly #members: ReadonlyMap<NodeId, SimMember>;
  readonly #checked = new Map<NodeId, Checked>();
  /** Commit advances checked, for summaries. */
  checks = 0;

  /** `members`: every member ever created, gone ones included (a lost disk's last contents count). */
  constructor(members: ReadonlyMap<NodeId, SimMember>) {
    this.#members = members;
  }

  /**
   * Checks the commit index `member` reached since the last call, if it leads (or led in its
   * current term: a removed leader commits its removal and steps down in one step).
   */
  afterCore(member: SimMember): void {
    const status = member.status();
    if (status === null) return;
    const seen = this.#checked.get(member.id);
    if (seen === undefined || seen.term !== status.term) {
      // First sight of a leader: what it committed so far it learnt as a follower.
      if (status.role === 'leader')
        this.#checked.set(member.id, { term: status.term, commit: status.commit });
      else if (seen !== undefined) this.#checked.delete(member.id);
      return;
    }
    if (status.commit <= seen.commit) return;
    seen.commit = status.commit;
    this.#check(member, status.commit, status.term);
  }

  #check(leader: SimMember, commit: Index, term: Term): void {
    this.checks++;
    const { snapshot, entries } = leader.node.logView();
    const entryTerm = commit === snapshot.index ? snapshot.term : entries[commit - snapshot.index - 1]?.term;
    if (entryTerm === undefined) {
      throw new SafetyViolation('commit quorum', `${leader.id} committed ${commit}, which it does not hold`);
    }
    const conf = latestConf(snapshot, entries, leader.initialConf);
    const holders = conf.voters.filter(
      (id) => this.#members.get(id)?.store.durablyHolds(commit, entryTerm) === true,
    );
    if (holders.length >= quorumSize(conf.voters.length)) return;
    throw new SafetyViolation(
      'commit quorum',
      `${leader.id}, leader of term ${term} with voters ${describeConf(conf)}, committed ${commit}/${entryTerm}, ` +
        `but only ${holders.join(', ') || 'no voter'} held it durably`,
    );
  }
}
