/**
 * Leader completeness before the fact: the argument of §5.4.3 checked on the logs as they stand.
 * A member lacking the highest committed entry must not be able to win an election, so its log
 * may be at least as up-to-date (§5.4.1) as the logs of less than a majority, its own included.
 * Votes already cast do not matter: in a correct Raft the log comparison alone rules it out.
 */
import type { Index, NodeId, Term } from '../../src/raft/types.js';
import { SafetyViolation } from './safety-violation.js';
import type { SimMember } from './sim-member.js';

/** Where a member's log ends, and what it holds at the highest committed index. */
interface LogTip {
  readonly id: NodeId;
  readonly lastIndex: Index;
  readonly lastTerm: Term;
  /** The term of its entry at the committed index; 'compacted' when its snapshot covers it. */
  readonly termAtTop: Term | null | 'compacted';
}

/** A member that is down is judged by its stored log: that is the log it votes and campaigns with. */
function logTip(member: SimMember, top: Index): LogTip {
  if (!member.isUp) {
    const storage = member.store;
    const termAtTop = top < storage.firstIndex() - 1 ? 'compacted' : storage.term(top);
    return { id: member.id, lastIndex: storage.lastIndex(), lastTerm: storage.lastTerm(), termAtTop };
  }
  const { snapshot, entries } = member.node.logView();
  const termAtTop =
    top < snapshot.index
      ? 'compacted'
      : top === snapshot.index
        ? snapshot.term
        : (entries[top - snapshot.index - 1]?.term ?? null);
  const lastTerm = entries.at(-1)?.term ?? snapshot.term;
  return { id: member.id, lastIndex: snapshot.index + entries.length, lastTerm, termAtTop };
}

/** Throws a 'leader completeness' SafetyViolation if a member lacking `top`/`topTerm` could be elected. */
export function checkElectable(members: readonly SimMember[], top: Index, topTerm: Term): void {
  const tips = members.map((m) => logTip(m, top));
  const quorum = Math.floor(members.length / 2) + 1;
  for (const tip of tips) {
    if (tip.termAtTop === topTerm || tip.termAtTop === 'compacted') continue;
    const voters = tips.filter(
      (v) => tip.lastTerm > v.lastTerm || (tip.lastTerm === v.lastTerm && tip.lastIndex >= v.lastIndex),
    );
    if (voters.length >= quorum) {
      const logs = voters.map((v) => `${v.id} ${v.lastIndex}/${v.lastTerm}`).join(', ');
      throw new SafetyViolation(
        'leader completeness',
        `${tip.id} (log ends at ${tip.lastIndex}/${tip.lastTerm}) lacks committed ${top}/${topTerm}, ` +
          `yet its log is up-to-date for a majority: ${logs}`,
      );
    }
  }
}
