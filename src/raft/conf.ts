/**
 * Configuration changes (thesis §4): how a change turns one configuration into the next, and how
 * a configuration travels in a `config` entry.
 *
 * raftkv changes one member at a time (thesis §4.1) rather than by joint consensus (§4.3): add a
 * learner, promote a learner, remove a member. Any majority of the voters before such a change
 * overlaps any majority after it, so no two leaders can be elected and no committed entry lost
 * across the change, while every operation an operator or a rebalancer needs (move a replica:
 * add learner, promote, remove) is a sequence of single changes. Joint consensus would let one
 * step swap several voters, which raftkv never needs, at the price of a second kind of quorum in
 * every count. The rules that make single changes safe, all enforced by the leader:
 * - a configuration takes effect on a member as soon as its entry is in that member's log,
 *   committed or not; a member whose log loses the entry goes back to the one before;
 * - at most one change is uncommitted at a time;
 * - a leader proposes a change only once it has committed an entry of its own term (the fix in
 *   Ongaro's 2015 raft-dev post: without it a leader elected under an old configuration could
 *   commit a change that overlaps no majority of a change a previous leader appended).
 */

import type { ConfChange, ConfChangeInvalid, ConfState, NodeId } from './types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The bytes of a `config` entry that sets configuration `conf`. */
export function encodeConf(conf: ConfState): Uint8Array {
  return encoder.encode(JSON.stringify({ voters: conf.voters, learners: conf.learners }));
}

/** The configuration a `config` entry sets, or null when its bytes are not one (dropped by well-formed checks). */
export function decodeConf(data: Uint8Array): ConfState | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const { voters, learners } = parsed as { voters?: unknown; learners?: unknown };
  if (!isIdList(voters) || !isIdList(learners)) return null;
  return isValidConf({ voters, learners }) ? { voters, learners } : null;
}

function isIdList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string' && x.length > 0);
}

/** A configuration has at least one voter, and no member twice. */
export function isValidConf(conf: ConfState): boolean {
  const all = [...conf.voters, ...conf.learners];
  return conf.voters.length > 0 && new Set(all).size === all.length;
}

export function isMember(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}

/** Every member but `self`: whom a leader replicates to. */
export function peersOf(conf: ConfState, self: NodeId): NodeId[] {
  return [...conf.voters, ...conf.learners].filter((id) => id !== self);
}

/** The configuration after `change`, or why the change does not fit `conf`. */
export function changedConf(conf: ConfState, change: ConfChange): ConfState | ConfChangeInvalid {
  const { node } = change;
  switch (change.type) {
    case 'addLearner':
      if (isMember(conf, node)) return 'alreadyMember';
      return { voters: conf.voters, learners: [...conf.learners, node] };
    case 'promote':
      if (!conf.learners.includes(node)) return conf.voters.includes(node) ? 'alreadyMember' : 'notLearner';
      return { voters: [...conf.voters, node], learners: conf.learners.filter((id) => id !== node) };
    case 'remove': {
      if (!isMember(conf, node)) return 'notMember';
      const voters = conf.voters.filter((id) => id !== node);
      if (voters.length === 0) return 'noVoterLeft';
      return { voters, learners: conf.learners.filter((id) => id !== node) };
    }
  }
}

export function sameConf(a: ConfState, b: ConfState): boolean {
  return sameIds(a.voters, b.voters) && sameIds(a.learners, b.learners);
}

function sameIds(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((id, k) => id === b[k]);
}
