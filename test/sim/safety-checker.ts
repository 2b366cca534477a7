/**
 * The Raft safety properties (Figure 3 of the paper), checked on a running simulated cluster:
 * election safety, log matching, leader completeness and state machine safety, and across
 * configuration changes the overlap of majorities (electable-check.ts). It keeps, over the whole
 * run, the canonical committed and applied sequence and every (index, term) seen in any log. It
 * only observes; a broken property throws a SafetyViolation naming it.
 */
import type { Entry, HardState, Index, NodeId, SnapshotMeta, Term } from '../../src/raft/types.js';
import { ConfReader, checkElectable, checkOverlap, logTip } from './electable-check.js';
import { SafetyViolation } from './safety-violation.js';
import type { SimMember } from './sim-member.js';
import { describeEntry, type RegisterMachine } from './sim-state-machine.js';

/** What is known of one (index, term) pair from any log: the term before it and its contents. */
interface EntryFact {
  readonly prevTerm: Term;
  readonly digest: string;
  readonly member: NodeId;
}

/** What the checker last scanned of one member's log, to skip logs that did not change. */
interface LogScan {
  lastEntry: Entry | null;
  length: number;
  snapshotIndex: Index;
  commit: Index;
  // Entry → the predecessor it was checked after (an entry, or the snapshot's meta).
  readonly checked: WeakMap<Entry, Entry | SnapshotMeta>;
}

/** A leader whose log is being held to every entry committed before its term. */
interface LeaderCheck {
  readonly member: SimMember;
  readonly term: Term;
  /** Every committed index up to here that the leader must hold has been checked. */
  checkedTo: Index;
}

/**
 * Fed by the members (hard states written, entries applied, snapshots restored) and by the simulation
 * after every step; throws a SafetyViolation at the first broken property.
 */
export class SafetyChecker {
  // The leader of every term ever seen.
  readonly #leaders = new Map<Term, NodeId>();
  readonly #leaderChecks = new Map<string, LeaderCheck>();
  #termMax: Term = 0;
  // Invariant: indices 1..length-1 are known committed, with these terms.
  readonly #committedTerms: Term[] = [0];
  // Invariant: non-decreasing; each index was committed in a term no higher than this (§5.4.2).
  readonly #commitTerms: Term[] = [0];
  // Invariant: indices 1..length-1 were applied by some member, in this order.
  readonly #appliedDigests: string[] = [''];
  readonly #appliedChains: number[] = [0];
  readonly #facts = new Map<string, EntryFact>();
  readonly #scans = new Map<NodeId, LogScan>();
  readonly #confs = new ConfReader();

  /** The highest index any member applied. */
  get appliedMax(): Index {
    return this.#appliedDigests.length - 1;
  }

  /** The term of the entry known committed at `index`, or null when none is known yet. */
  committedTerm(index: Index): Term | null {
    return this.#committedTerms[index] ?? null;
  }

  /** The canonical description of the entry applied at `index`, or null if none was. */
  appliedDigest(index: Index): string | null {
    return this.#appliedDigests[index] ?? null;
  }

  /**
   * A member's drive loop is about to write hard state `hs`: learn its term and commit index
   * (a crash may lose the write, but not what the core already knew).
   */
  onHardState(member: SimMember, hs: HardState): void {
    this.#observeTerm(hs.term);
    this.#recordCommit(member.id, member.node.logView(), hs.commit, hs.term);
  }

  /** A member is leader of `term`: check election safety and start holding it to completeness. */
  onLeader(member: SimMember, term: Term): void {
    this.#observeTerm(term);
    this.#checkLeader(member, term);
  }

  /** A member applied `entry` and its machine now stands at it. */
  onApply(member: SimMember, machine: RegisterMachine, entry: Entry): void {
    const { index } = entry;
    this.#recordCommitted(member.id, index, entry.term, this.#termMax);
    const digest = describeEntry(entry);
    const chain = machine.chain;
    const known = this.#appliedDigests[index];
    if (known === undefined) {
      if (index !== this.#appliedDigests.length) {
        throw new SafetyViolation(
          'state machine safety',
          `${member.id} applied ${index} before anyone applied ${this.#appliedDigests.length}`,
        );
      }
      this.#appliedDigests.push(digest);
      this.#appliedChains.push(chain);
      return;
    }
    if (known !== digest) {
      throw new SafetyViolation(
        'state machine safety',
        `${member.id} applied ${digest} where another applied ${known}`,
      );
    }
    if (this.#appliedChains[index] !== chain) {
      throw new SafetyViolation(
        'state machine safety',
        `${member.id} state at ${index} has chain ${chain}, others had ${this.#appliedChains[index]}`,
      );
    }
  }

  /** A member's state machine was replaced by `machine`, from a snapshot (installed, or loaded on restart). */
  onRestore(member: SimMember, machine: RegisterMachine): void {
    const index = machine.applied;
    const term = machine.appliedTerm;
    const chain = this.#appliedChains[index];
    if (chain === undefined) {
      throw new SafetyViolation(
        'state machine safety',
        `${member.id} restored snapshot ${index}, which nobody applied`,
      );
    }
    if (this.#committedTerms[index] !== term) {
      throw new SafetyViolation(
        'state machine safety',
        `${member.id} restored snapshot ${index}/${term} but ${index} was committed in term ${this.#committedTerms[index]}`,
      );
    }
    if (machine.chain !== chain) {
      throw new SafetyViolation(
        'state machine safety',
        `${member.id} restored snapshot ${index} with chain ${machine.chain}, others had ${chain}`,
      );
    }
  }

  /**
   * After every simulated step: leaders, logs and commit indices of every member that is up; who
   * could be elected or lead, of every member not gone for good (`members` holds no other).
   */
  checkStep(members: readonly SimMember[]): void {
    for (const member of members) {
      const status = member.status();
      if (status === null) continue;
      this.#observeTerm(status.term);
      if (status.role === 'leader') this.#checkLeader(member, status.term);
      this.#scanLog(member, status.commit, status.term);
    }
    for (const [key, check] of this.#leaderChecks) {
      const status = check.member.status();
      if (status === null || status.role !== 'leader' || status.term !== check.term)
        this.#leaderChecks.delete(key);
      else this.#checkCompleteness(check);
    }
    const top = this.#committedTerms.length - 1;
    const tips = members.map((m) => logTip(m, top, this.#confs));
    if (top > 0) checkElectable(tips, top, this.#committedTerms[top]!);
    checkOverlap(tips);
  }

  #observeTerm(term: Term): void {
    if (term > this.#termMax) this.#termMax = term;
  }

  /** §5.2 election safety; a new leader is then held to leader completeness while it leads. */
  #checkLeader(member: SimMember, term: Term): void {
    const known = this.#leaders.get(term);
    if (known === undefined) this.#leaders.set(term, member.id);
    else if (known !== member.id) {
      throw new SafetyViolation(
        'election safety',
        `${known} and ${member.id} were both leader in term ${term}`,
      );
    }
    const key = `${term}/${member.id}`;
    if (this.#leaderChecks.has(key)) return;
    const check = { member, term, checkedTo: 0 };
    this.#leaderChecks.set(key, check);
    this.#checkCompleteness(check);
  }

  /**
   * §5.4 leader completeness: every entry committed in a term below the leader's is in its log,
   * with the same term, unless it lies below the leader's snapshot.
   */
  #checkCompleteness(check: LeaderCheck): void {
    const last = this.#committedBefore(check.term);
    if (last <= check.checkedTo) return;
    const { member, term } = check;
    const { snapshot, entries } = member.node.logView();
    const lastIndex = snapshot.index + entries.length;
    if (lastIndex < last) {
      throw new SafetyViolation(
        'leader completeness',
        `${member.id} leads term ${term} with a log ending at ${lastIndex}, but ${last}/${this.#committedTerms[last]} was committed before`,
      );
    }
    if (
      snapshot.index > check.checkedTo &&
      snapshot.index <= last &&
      this.#committedTerms[snapshot.index] !== snapshot.term
    ) {
      throw new SafetyViolation(
        'leader completeness',
        `${member.id} leads term ${term} with snapshot ${snapshot.index}/${snapshot.term}, but ${snapshot.index}/${this.#committedTerms[snapshot.index]} was committed`,
      );
    }
    for (let index = Math.max(snapshot.index, check.checkedTo) + 1; index <= last; index++) {
      const entry = entries[index - snapshot.index - 1]!;
      if (entry.term !== this.#committedTerms[index]) {
        throw new SafetyViolation(
          'leader completeness',
          `${member.id} leads term ${term} with ${index}/${entry.term} in its log, but ${index}/${this.#committedTerms[index]} was committed before`,
        );
      }
    }
    check.checkedTo = last;
  }

  /** The highest index known committed in a term below `term` (binary search; commit terms never decrease). */
  #committedBefore(term: Term): Index {
    let lo = 0;
    let hi = this.#commitTerms.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#commitTerms[mid]! < term) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** §5.3 log matching over the in-memory log, and agreement of everything below commit. */
  #scanLog(member: SimMember, commit: Index, term: Term): void {
    const { snapshot, entries } = member.node.logView();
    let scan = this.#scans.get(member.id);
    if (scan === undefined) {
      scan = { lastEntry: null, length: -1, snapshotIndex: -1, commit: -1, checked: new WeakMap() };
      this.#scans.set(member.id, scan);
    }
    const lastEntry = entries.at(-1) ?? null;
    if (
      scan.lastEntry === lastEntry &&
      scan.length === entries.length &&
      scan.snapshotIndex === snapshot.index &&
      scan.commit === commit
    ) {
      return;
    }
    scan.lastEntry = lastEntry;
    scan.length = entries.length;
    scan.snapshotIndex = snapshot.index;
    scan.commit = commit;
    if (snapshot.index > 0) this.#recordCommitted(member.id, snapshot.index, snapshot.term, term);
    let prev: Entry | SnapshotMeta = snapshot;
    for (const entry of entries) {
      if (entry.index <= commit) this.#recordCommitted(member.id, entry.index, entry.term, term);
      if (scan.checked.get(entry) !== prev) {
        if (entry.index !== prev.index + 1) {
          throw new SafetyViolation(
            'log matching',
            `${member.id} log has ${entry.index} right after ${prev.index}`,
          );
        }
        this.#checkFact(member.id, entry, prev.term);
        scan.checked.set(entry, prev);
      }
      prev = entry;
    }
  }

  /** Two logs holding the same (index, term) agree on its contents and on the term before it. */
  #checkFact(id: NodeId, entry: Entry, prevTerm: Term): void {
    const key = `${entry.index}/${entry.term}`;
    const fact = this.#facts.get(key);
    if (fact === undefined) {
      this.#facts.set(key, { prevTerm, digest: describeEntry(entry), member: id });
      return;
    }
    if (fact.prevTerm !== prevTerm) {
      throw new SafetyViolation(
        'log matching',
        `${id} holds ${key} after term ${prevTerm}; ${fact.member} held it after term ${fact.prevTerm}`,
      );
    }
    const digest = describeEntry(entry);
    if (fact.digest !== digest) {
      throw new SafetyViolation('log matching', `${id} holds ${digest}; ${fact.member} held ${fact.digest}`);
    }
  }

  /** A member in `term` knows its log committed up to `commit`: record what is new. */
  #recordCommit(id: NodeId, view: ReturnType<SimMember['node']['logView']>, commit: Index, term: Term): void {
    const { snapshot, entries } = view;
    const termAt = (index: Index): Term | undefined =>
      index === snapshot.index ? snapshot.term : entries[index - snapshot.index - 1]?.term;
    const from = Math.max(snapshot.index, Math.min(this.#committedTerms.length, commit));
    for (let index = from; index <= commit; index++) {
      const entryTerm = termAt(index);
      if (entryTerm === undefined) {
        throw new SafetyViolation(
          'state machine safety',
          `${id} knows ${index} committed but does not hold it`,
        );
      }
      if (index > 0) this.#recordCommitted(id, index, entryTerm, term);
    }
  }

  /**
   * `index` holds an entry of `entryTerm` that a member in `term` knows committed: it was
   * committed in `term` or earlier, and no member may ever know another entry committed there.
   */
  #recordCommitted(id: NodeId, index: Index, entryTerm: Term, term: Term): void {
    const known = this.#committedTerms[index];
    if (known === undefined) {
      const next = this.#committedTerms.length;
      if (index !== next) {
        throw new SafetyViolation(
          'state machine safety',
          `${id} knows ${index}/${entryTerm} committed, but ${next} is not known committed`,
        );
      }
      this.#committedTerms.push(entryTerm);
      this.#commitTerms.push(term);
    } else if (known !== entryTerm) {
      throw new SafetyViolation(
        'state machine safety',
        `${id} knows ${index}/${entryTerm} committed, but ${index}/${known} was committed before`,
      );
    }
    // Committing an index commits everything before it: keep commit terms non-decreasing.
    const commitTerms = this.#commitTerms;
    if (term < commitTerms[index]!) commitTerms[index] = term;
    for (let i = index - 1; i > 0 && commitTerms[i]! > commitTerms[index]!; i--)
      commitTerms[i] = commitTerms[index]!;
  }
}
