/**
 * What the membership nemesis (membership.ts) plans and records, as pure functions and data: the
 * next single change towards a target set of voters, how far an answer's configuration shows a
 * change, and the counts of a run's changes and moves. No I/O here.
 */

/** `other-node`: a replica moves to a node without one and back; `same-node`: it leaves and comes back. */
export const membershipVariants = ['other-node', 'same-node'] as const;

/** A shard's configuration: its voters and learners. */
export interface Conf {
  readonly voters: readonly string[];
  readonly learners: readonly string[];
}

/** One admin request: add as learner, add as voter (learner, catch up, promote), promote, remove. */
export type ChangeType = 'addLearner' | 'addVoter' | 'promote' | 'remove';

/** A change of one node's membership of a shard. */
export interface Change {
  readonly type: ChangeType;
  readonly node: string;
}

/**
 * How an answer is counted: `ok` 200 (applied); refusals that changed nothing: `conflict` 409,
 * `refused` 400, `unavailable` 503, `notSent` (no connection was made); `unknown` 504, a timeout
 * or a connection lost after sending; `unexpected` any other status.
 */
export type ChangeOutcome =
  | 'ok'
  | 'conflict'
  | 'refused'
  | 'unavailable'
  | 'notSent'
  | 'unknown'
  | 'unexpected';

/** One change the nemesis asked for, and what came of it. */
export interface MemberChange {
  readonly id: number;
  /**
   * `move`: a leg of move `move`; `repair`: putting back a shard an earlier move left changed, before
   * the next move of it; `restore`: putting every shard back at the end of the run.
   */
  readonly phase: 'move' | 'repair' | 'restore';
  readonly move: number | null;
  readonly shard: number;
  readonly type: ChangeType;
  readonly node: string;
  /** The node the request was sent to (it forwards to the shard's leader). */
  readonly via: string | null;
  /** ms since the run began. */
  readonly start: number;
  end: number;
  outcome: ChangeOutcome;
  status: number | null;
  /** The error's message, or the network error's code. */
  detail: string;
  /** The configuration the answer carried (ok) or the leader said right after (otherwise); null: none known. */
  after: Conf | null;
  /** Whether `after` shows the change's effect (for `addVoter`: the node is a voter). */
  effect: 'none' | 'partial' | 'full' | null;
}

/** One move: a replica of `shard` from `from` to `to` (the same node for same-node) and back. */
export interface MemberMove {
  readonly id: number;
  readonly shard: number;
  readonly variant: (typeof membershipVariants)[number];
  readonly from: string;
  readonly to: string;
  readonly start: number;
  /** When the first leg reached its voters; null: it did not. */
  there: number | null;
  /** When the shard was back at its original voters; null: not (yet). */
  back: number | null;
  /** Why the move was given up, if it was (the next move of the shard, or the restore, puts it back). */
  abandoned: string | null;
  /** The run ended before the move went back (the restore puts it back). */
  cutShort: boolean;
}

/** The changes of a round by answer, and its moves by how they ended. */
export interface MembershipCounts {
  moves: number;
  movesCompleted: number;
  movesAbandoned: number;
  movesCutShort: number;
  changes: number;
  ok: number;
  conflict: number;
  refused: number;
  unavailable: number;
  notSent: number;
  unknown: number;
  /** Unknown outcomes the leader's configuration then showed applied. */
  unknownApplied: number;
  unexpected: number;
  /** Refusals (409, 400, 503) after which the leader's configuration showed the change (fully or in part). */
  refusedYetChanged: number;
}

/** What the membership nemesis did in a round: in report.json, report.txt and the timeline. */
export interface MembershipRecord {
  readonly moves: readonly MemberMove[];
  readonly changes: readonly MemberChange[];
  readonly counts: MembershipCounts;
  /** The voters each shard started with (and is restored to). */
  readonly original: readonly (readonly string[])[];
}

/** The smallest majority of `n` voters. */
export const majorityOf = (n: number) => Math.floor(n / 2) + 1;
/** Node ids for a report line: comma-separated, `-` for none. */
export const list = (xs: readonly string[]) => (xs.length === 0 ? '-' : xs.join(','));
/** A configuration for a report line: `voters n1,n2 learners n3`. */
export const describeConf = (c: Conf) => `voters ${list(c.voters)} learners ${list(c.learners)}`;

/**
 * The one change that brings `conf` closer to having exactly `target` as voters and no learners:
 * promote a target learner, add a missing target node, remove a stray learner, then remove a stray
 * voter, but only when at least `votersMin` voters remain after it. `done` when there; `blocked` when only
 * a removal that would go below `votersMin` is left. `addAs` says how a missing node is added.
 */
export function nextChange(
  conf: Conf,
  target: readonly string[],
  votersMin: number,
  addAs: 'addLearner' | 'addVoter',
): Change | 'done' | 'blocked' {
  const learner = conf.learners.find((id) => target.includes(id));
  if (learner !== undefined) return { type: 'promote', node: learner };
  const missing = target.find((id) => !conf.voters.includes(id));
  if (missing !== undefined) return { type: addAs, node: missing };
  const strayLearner = conf.learners.find((id) => !target.includes(id));
  if (strayLearner !== undefined) return { type: 'remove', node: strayLearner };
  const strayVoter = conf.voters.find((id) => !target.includes(id));
  if (strayVoter === undefined) return 'done';
  return conf.voters.length - 1 >= votersMin ? { type: 'remove', node: strayVoter } : 'blocked';
}

/** How far `after` shows `change` made: for addVoter, a learner is `partial`. */
export function effectOf(change: Change, before: Conf | null, after: Conf): 'none' | 'partial' | 'full' {
  const { node } = change;
  switch (change.type) {
    case 'addLearner':
      return after.learners.includes(node) || after.voters.includes(node) ? 'full' : 'none';
    case 'addVoter':
      if (after.voters.includes(node) && !(before?.voters.includes(node) ?? false)) return 'full';
      return after.learners.includes(node) && !(before?.learners.includes(node) ?? false)
        ? 'partial'
        : 'none';
    case 'promote':
      return after.voters.includes(node) && !(before?.voters.includes(node) ?? false) ? 'full' : 'none';
    case 'remove':
      return !after.voters.includes(node) && !after.learners.includes(node) ? 'full' : 'none';
  }
}

/** The counts of a list of changes and moves. */
export function countMembership(
  moves: readonly MemberMove[],
  changes: readonly MemberChange[],
): MembershipCounts {
  const c: MembershipCounts = {
    moves: moves.length,
    movesCompleted: moves.filter((m) => m.back !== null && m.abandoned === null).length,
    movesAbandoned: moves.filter((m) => m.abandoned !== null).length,
    movesCutShort: moves.filter((m) => m.cutShort).length,
    changes: changes.length,
    ok: 0,
    conflict: 0,
    refused: 0,
    unavailable: 0,
    notSent: 0,
    unknown: 0,
    unknownApplied: 0,
    unexpected: 0,
    refusedYetChanged: 0,
  };
  for (const ch of changes) {
    c[ch.outcome]++;
    if (ch.outcome === 'unknown' && ch.effect === 'full') c.unknownApplied++;
    const refusal = ch.outcome === 'conflict' || ch.outcome === 'refused' || ch.outcome === 'unavailable';
    if (refusal && (ch.effect === 'full' || ch.effect === 'partial')) c.refusedYetChanged++;
  }
  return c;
}
