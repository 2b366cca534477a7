/**
 * Waiting for leadership to change, bounded: a request that arrives between an election and the
 * new leader's first message, a proposal that meets a transfer, a stopping node handing over.
 * Each wait ends at the change it waits for or at its deadline, whichever comes first.
 */

import type { Cancel, Clock } from './clock.js';
import type { AnyGroup } from './group.js';

/** Resolves at the group's next change of role, leader or term, or after `waitMs`. */
export function roleChange(g: AnyGroup, waitMs: number, clock: Clock): Promise<void> {
  return new Promise((resolve) => {
    let cancel: Cancel = () => {};
    const unsubscribe = g.onRoleChange(() => done());
    const done = () => {
      cancel();
      unsubscribe();
      resolve();
    };
    cancel = clock.after(waitMs, done);
  });
}

/** Resolves once `g` knows a leader (at once if it does), or after `waitMs`. */
export async function leaderKnown(g: AnyGroup, waitMs: number, clock: Clock): Promise<void> {
  const deadline = clock.now() + waitMs;
  while (g.raft.status().leader === null && clock.now() < deadline) {
    await roleChange(g, deadline - clock.now(), clock);
  }
}

/** Resolves when no group with other members is led by this node, or after `waitMs`. */
export function leadershipGone(live: Iterable<AnyGroup>, waitMs: number, clock: Clock): Promise<void> {
  const groups = [...live];
  const leading = () =>
    groups.some((g) => g.raft.conf().voters.length > 1 && g.raft.status().role === 'leader');
  return new Promise((resolve) => {
    const unsubscribe: (() => void)[] = [];
    let cancel: Cancel = () => {};
    const done = () => {
      cancel();
      for (const u of unsubscribe) u();
      resolve();
    };
    if (!leading()) return done();
    cancel = clock.after(waitMs, done);
    for (const g of groups) unsubscribe.push(g.onRoleChange(() => !leading() && done()));
  });
}
