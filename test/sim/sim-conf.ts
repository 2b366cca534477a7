/**
 * Configurations as the simulator's checkers see them: read from a log by the rule of thesis §4.1
 * (the latest in the log, committed or not, else the snapshot's), never asked of the core, so a
 * core that keeps its configuration some other way is judged by the rule. Pure functions.
 */
import { decodeConf } from '../../src/raft/conf.js';
import { quorumSize } from '../../src/raft/quorum.js';
import type { ConfState, Entry, SnapshotMeta } from '../../src/raft/types.js';

/**
 * The configuration in effect on a log: its latest config entry, else its snapshot's
 * configuration, else `fallback` (a store that holds no snapshot: the member's first one).
 */
export function latestConf(
  snapshot: SnapshotMeta | null,
  entries: readonly Entry[],
  fallback: ConfState,
): ConfState {
  for (let k = entries.length - 1; k >= 0; k--) {
    const e = entries[k]!;
    if (e.kind !== 'config') continue;
    const conf = decodeConf(e.data);
    if (conf === null) throw new Error(`config entry ${e.index}/${e.term} does not hold a configuration`);
    return conf;
  }
  return snapshot === null ? fallback : { voters: snapshot.voters, learners: snapshot.learners };
}

/**
 * True when every majority of `a`'s voters meets every majority of `b`'s: two disjoint majorities
 * would have to fit in the voters both share, beyond what each can take from its own.
 */
export function majoritiesOverlap(a: ConfState, b: ConfState): boolean {
  const shared = a.voters.filter((id) => b.voters.includes(id)).length;
  const needA = Math.max(0, quorumSize(a.voters.length) - (a.voters.length - shared));
  const needB = Math.max(0, quorumSize(b.voters.length) - (b.voters.length - shared));
  return needA + needB > shared;
}

/** Voters and learners in one short token, for traces and violations: `n1,n2,n3+n6`. */
export function describeConf(conf: ConfState): string {
  const learners = conf.learners.length === 0 ? '' : `+${conf.learners.join(',')}`;
  return `${conf.voters.join(',')}${learners}`;
}
