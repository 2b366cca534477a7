/**
 * Who could act, judged on the logs as they stand, and two checks on it.
 * - Leader completeness before the fact (the argument of §5.4.3): a member lacking the highest
 *   committed entry must not be able to win an election, so its log may be at least as
 *   up-to-date (§5.4.1) as the logs of less than a majority of the voters of its configuration,
 *   its own included. Votes already cast do not matter: in a correct Raft the log comparison
 *   alone rules it out.
 * - Overlapping majorities (thesis §4.1): any two configurations that members able to act hold at
 *   once have majorities that meet. Able to act: a voter of its own configuration that could win
 *   an election on its log as above, or a leader whose term a majority of its voters has not
 *   passed.
 * Configurations are read from the logs by the rule (sim-conf.ts). Members gone for good neither
 * campaign nor vote.
 */

import { quorumSize } from '../../src/raft/quorum.js';
import type { ConfState, Index, NodeId, Term } from '../../src/raft/types.js';
import { SafetyViolation } from './safety-violation.js';
import { describeConf, latestConf, majoritiesOverlap } from './sim-conf.js';
import type { SimMember } from './sim-member.js';

/** Where a member's log ends, what it holds at the highest committed index, and what it acts on. */
export interface LogTip {
  readonly id: NodeId;
  readonly lastIndex: Index;
  readonly lastTerm: Term;
  /** The term of its entry at the committed index; 'compacted' when its snapshot covers it. */
  readonly termAtTop: Term | null | 'compacted';
  /** The configuration in effect on its log. */
  readonly conf: ConfState;
  /** Its current term (stored, when down). */
  readonly term: Term;
  readonly isLeader: boolean;
}

/** Remembers each member's configuration while its log is unchanged, so a step reads no log twice. */
export class ConfReader {
  readonly #cache = new Map<NodeId, { key: readonly unknown[]; conf: ConfState }>();

  /** The configuration in effect on `member`'s log: in memory while up, as stored while down. */
  confOf(member: SimMember): ConfState {
    if (!member.isUp) {
      return this.#cached(member.id, [member.store, member.store.version], () => {
        const { snapshot, entries } = member.store.storedLog();
        return latestConf(snapshot, entries, member.initialConf);
      });
    }
    const { snapshot, entries } = member.node.logView();
    return this.#cached(member.id, [snapshot, entries.length, entries.at(-1)], () =>
      latestConf(snapshot, entries, member.initialConf),
    );
  }

  #cached(id: NodeId, key: readonly unknown[], read: () => ConfState): ConfState {
    const hit = this.#cache.get(id);
    if (hit !== undefined && hit.key.length === key.length && hit.key.every((k, i) => k === key[i])) {
      return hit.conf;
    }
    const conf = read();
    this.#cache.set(id, { key, conf });
    return conf;
  }
}

/** A member that is down is judged by its stored log: that is the log it votes and campaigns with. */
export function logTip(member: SimMember, top: Index, confs: ConfReader): LogTip {
  const conf = confs.confOf(member);
  if (!member.isUp) {
    const storage = member.store;
    const termAtTop = top < storage.firstIndex() - 1 ? 'compacted' : storage.term(top);
    return {
      id: member.id,
      lastIndex: storage.lastIndex(),
      lastTerm: storage.lastTerm(),
      termAtTop,
      conf,
      term: storage.storedTerm(),
      isLeader: false,
    };
  }
  const { snapshot, entries } = member.node.logView();
  const termAtTop =
    top < snapshot.index
      ? 'compacted'
      : top === snapshot.index
        ? snapshot.term
        : (entries[top - snapshot.index - 1]?.term ?? null);
  const lastTerm = entries.at(-1)?.term ?? snapshot.term;
  const status = member.node.status();
  return {
    id: member.id,
    lastIndex: snapshot.index + entries.length,
    lastTerm,
    termAtTop,
    conf,
    term: status.term,
    isLeader: status.role === 'leader',
  };
}

/** §5.4.1: `a`'s log is at least as up-to-date as `b`'s. */
function atLeastAsUpToDate(a: LogTip, b: LogTip): boolean {
  return a.lastTerm > b.lastTerm || (a.lastTerm === b.lastTerm && a.lastIndex >= b.lastIndex);
}

/** The voters of `tip`'s configuration that would find its log up-to-date (it among them), or null if it is no voter there. */
function wouldGrant(tip: LogTip, byId: ReadonlyMap<NodeId, LogTip>): LogTip[] | null {
  if (!tip.conf.voters.includes(tip.id)) return null;
  const granting: LogTip[] = [];
  for (const id of tip.conf.voters) {
    const voter = byId.get(id);
    if (voter !== undefined && atLeastAsUpToDate(tip, voter)) granting.push(voter);
  }
  return granting;
}

/** Whether `tip` could win an election on its log: a majority of its voters would grant. */
function couldWin(tip: LogTip, byId: ReadonlyMap<NodeId, LogTip>): boolean {
  const granting = wouldGrant(tip, byId);
  return granting !== null && granting.length >= quorumSize(tip.conf.voters.length);
}

/** Whether leader `tip` could still commit: a majority of its voters has not passed its term. */
function couldLead(tip: LogTip, byId: ReadonlyMap<NodeId, LogTip>): boolean {
  if (!tip.isLeader) return false;
  const following = tip.conf.voters.filter((id) => {
    const voter = byId.get(id);
    return voter !== undefined && voter.term <= tip.term;
  });
  return following.length >= quorumSize(tip.conf.voters.length);
}

/** Throws a 'leader completeness' SafetyViolation if a member lacking `top`/`topTerm` could be elected. */
export function checkElectable(tips: readonly LogTip[], top: Index, topTerm: Term): void {
  const byId = new Map(tips.map((t) => [t.id, t]));
  for (const tip of tips) {
    if (tip.termAtTop === topTerm || tip.termAtTop === 'compacted') continue;
    const granting = wouldGrant(tip, byId);
    if (granting !== null && granting.length >= quorumSize(tip.conf.voters.length)) {
      const logs = granting.map((v) => `${v.id} ${v.lastIndex}/${v.lastTerm}`).join(', ');
      throw new SafetyViolation(
        'leader completeness',
        `${tip.id} (log ends at ${tip.lastIndex}/${tip.lastTerm}) lacks committed ${top}/${topTerm}, ` +
          `yet its log is up-to-date for a majority of voters ${describeConf(tip.conf)}: ${logs}`,
      );
    }
  }
}

/** Throws an 'overlapping majorities' SafetyViolation if two members able to act hold configurations with disjoint majorities. */
export function checkOverlap(tips: readonly LogTip[]): void {
  const first = tips[0];
  if (first === undefined || tips.every((t) => sameVoters(t.conf, first.conf))) return;
  const byId = new Map(tips.map((t) => [t.id, t]));
  const acting = tips.filter((t) => couldLead(t, byId) || couldWin(t, byId));
  for (let i = 0; i < acting.length; i++) {
    for (let j = i + 1; j < acting.length; j++) {
      const a = acting[i]!;
      const b = acting[j]!;
      if (sameVoters(a.conf, b.conf) || majoritiesOverlap(a.conf, b.conf)) continue;
      const role = (t: LogTip) => (t.isLeader ? `leader of term ${t.term}` : 'electable');
      throw new SafetyViolation(
        'overlapping majorities',
        `${a.id} (${role(a)}, voters ${describeConf(a.conf)}) and ${b.id} (${role(b)}, voters ` +
          `${describeConf(b.conf)}) could both act, and a majority of one need not meet a majority of the other`,
      );
    }
  }
}

function sameVoters(a: ConfState, b: ConfState): boolean {
  return a === b || (a.voters.length === b.voters.length && a.voters.every((id) => b.voters.includes(id)));
}
