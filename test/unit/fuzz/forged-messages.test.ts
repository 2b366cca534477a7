/**
 * Forged terms and indexes from an authenticated member (issue #8). Raft assumes honest members,
 * so this claims no Byzantine safety. It proves two honest things instead:
 * (a) a message no correct member could send (positions that are not safe integers in
 *     [0, positionMax], terms out of order, entries not contiguous, snapshot meta inconsistent,
 *     misaddressed) is dropped by the core with no effect at all: a simulated swarm run with such
 *     messages injected replays its run without them event for event, and the simulator's safety
 *     checkers, heal and convergence still pass;
 * (b) a forged message that lies (terms and indexes up to the top of the safe integers, prevIndex
 *     far past the log, commits beyond anything, acks for indexes never sent, votes and read ids
 *     never asked for, snapshots with index 0) never makes the core throw, and every member keeps
 *     its own invariants: positions safe and ordered, term and commit monotonic, log contiguous
 *     with non-decreasing terms, committed entries applied in order, persisted state loadable.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Message, NodeId, RaftStatus } from '../../../src/raft/types.js';
import { positionMax } from '../../../src/raft/well-formed.js';
import { Simulation } from '../../sim/simulation.js';
import { swarmParams } from '../../sim/swarm-params.js';
import { messageTypes, positionArb } from './arbitraries.js';
import { fuzzBudget, fuzzRuns } from './budget.js';
import { ForgeryCluster, forgeryVoters } from './forgery-cluster.js';
import { type Impossible, impossibleArb } from './impossible-messages.js';

const runs = fuzzRuns.forgedMessages;
/** Counts the cases each property completes; the file fails if one runs other than its share. */
const fuzz = fuzzBudget('forgedMessages');

// --- (a) impossible messages -----------------------------------------------------------------

/** Swarm seeds that chose a three-member cluster. */
const simSeeds = Array.from({ length: 200 }, (_, i) => i)
  .filter((s) => swarmParams(s).memberCount === 3)
  .slice(0, 8);
const ids = ['n1', 'n2', 'n3'];
const safetyTicks = 100;
const dropped =
  /core (WARN dropped (malformed message|message not for this group member)|ignored vote request from a non-member)/;

/** Runs seed `seed`, handing each injection to its member just before its tick; returns the trace. */
async function runWithInjections(
  seed: number,
  injections: readonly { tick: number; impossible: Impossible }[],
): Promise<string[]> {
  const lines: string[] = [];
  const sim = await Simulation.swarm(seed, { trace: (l) => lines.push(l), traceMessages: true });
  const byId = new Map(sim.members.map((m) => [m.id, m]));
  for (let tick = 0; tick < safetyTicks; tick++) {
    for (const inj of injections)
      if (inj.tick === tick) byId.get(inj.impossible.deliverTo)!.deliver(inj.impossible.msg);
    await sim.run({ ticks: 1 });
  }
  await sim.heal();
  await sim.runUntil(() => sim.converged(), { ticksMax: 2_000 });
  await sim.check();
  return lines.filter((l) => !dropped.test(l));
}

const baselines = new Map<number, string[]>();
async function baseline(seed: number): Promise<string[]> {
  let lines = baselines.get(seed);
  if (lines === undefined) {
    lines = await runWithInjections(seed, []);
    baselines.set(seed, lines);
  }
  return lines;
}

// --- (b) well-formed lies --------------------------------------------------------------------

/** A number relative to the target's state, or absolute (huge ones included). */
type Num =
  | { readonly base: 'term' | 'last' | 'commit' | 'zero'; readonly delta: number }
  | { readonly abs: number };
const numArb: fc.Arbitrary<Num> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      base: fc.constantFrom('term' as const, 'last' as const, 'commit' as const, 'zero' as const),
      delta: fc.integer({ min: -3, max: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ abs: positionArb }) },
);
const resolve = (n: Num, s: RaftStatus): number =>
  'abs' in n
    ? n.abs
    : Math.max(0, { term: s.term, last: s.lastIndex, commit: s.commit, zero: 0 }[n.base] + n.delta);

interface Forgery {
  readonly to: number;
  readonly from: number;
  readonly type: Message['type'];
  readonly term: Num;
  readonly a: Num;
  readonly b: Num;
  readonly c: Num;
  readonly flag: boolean;
  readonly entryTerms: readonly number[];
}

const forgeryArb: fc.Arbitrary<Forgery> = fc.record({
  to: fc.nat(2),
  from: fc.nat(1),
  type: fc.constantFrom(...messageTypes),
  term: fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({ base: fc.constant('term' as const), delta: fc.integer({ min: -2, max: 2 }) }),
    },
    { weight: 1, arbitrary: fc.record({ abs: positionArb }) },
  ),
  a: numArb,
  b: numArb,
  c: numArb,
  flag: fc.boolean(),
  entryTerms: fc.array(fc.nat(2), { maxLength: 4 }),
});

/** The forged message, addressed from a member to a member, mostly well formed; it lies in its numbers. */
function buildForgery(f: Forgery, cluster: ForgeryCluster): { to: NodeId; msg: Message } {
  const to = forgeryVoters[f.to]!;
  const from = forgeryVoters.filter((v) => v !== to)[f.from]!;
  const s = cluster.node(to).status();
  const term = resolve(f.term, s);
  const [a, b, c] = [resolve(f.a, s), resolve(f.b, s), resolve(f.c, s)];
  const env = { from, to, term };
  switch (f.type) {
    case 'requestVote':
      return {
        to,
        msg: {
          ...env,
          type: 'requestVote',
          pre: f.flag,
          lastIndex: a,
          lastTerm: Math.min(b, term),
          transfer: c % 2 === 0,
        },
      };
    case 'voteReply':
      return { to, msg: { ...env, type: 'voteReply', pre: f.flag, granted: a % 3 !== 0 } };
    case 'append': {
      let t = Math.min(b, term);
      const entries = f.entryTerms.map((step, k) => {
        t = Math.min(t + step, term);
        return { index: a + 1 + k, term: t, kind: 'command' as const, data: new Uint8Array([k]) };
      });
      return {
        to,
        msg: { ...env, type: 'append', prevIndex: a, prevTerm: Math.min(b, term), entries, commit: c },
      };
    }
    case 'appendReply':
      return {
        to,
        msg: {
          ...env,
          type: 'appendReply',
          index: a,
          ok: f.flag,
          hint: f.flag ? null : { index: b, term: Math.min(c, term) },
        },
      };
    case 'heartbeat':
      return { to, msg: { ...env, type: 'heartbeat', commit: a, read: f.flag ? b % 4 : b } };
    case 'heartbeatReply':
      return { to, msg: { ...env, type: 'heartbeatReply', read: f.flag ? a % 4 : a } };
    case 'snapshot': {
      const index = f.flag ? 0 : a;
      const snapTerm = index === 0 ? 0 : Math.max(1, Math.min(b, term));
      return {
        to,
        msg: {
          ...env,
          type: 'snapshot',
          snapshot: {
            meta: { index, term: snapTerm, voters: forgeryVoters, learners: [] },
            data: new Uint8Array([c & 0xff]),
          },
        },
      };
    }
    case 'timeoutNow':
      return { to, msg: { ...env, type: 'timeoutNow' } };
  }
}

type Action =
  | { readonly op: 'tick' }
  | { readonly op: 'deliver'; readonly pick: number; readonly lose: boolean }
  | { readonly op: 'propose'; readonly byte: number }
  | { readonly op: 'read' }
  | { readonly op: 'compact' | 'restart'; readonly member: number }
  | { readonly op: 'forge'; readonly forgery: Forgery };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ op: 'tick' as const }) },
  {
    weight: 10,
    arbitrary: fc.record({
      op: fc.constant('deliver' as const),
      pick: fc.nat(),
      lose: fc.nat(19).map((n) => n === 0),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('propose' as const), byte: fc.nat(255) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'read' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constantFrom('compact' as const, 'restart' as const), member: fc.nat(2) }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('forge' as const), forgery: forgeryArb }) },
);

function play(cluster: ForgeryCluster, action: Action, k: number): void {
  switch (action.op) {
    case 'tick':
      return cluster.tick();
    case 'deliver':
      return cluster.deliver(action.pick, action.lose);
    case 'propose':
      return cluster.propose(new Uint8Array([action.byte]));
    case 'read':
      return cluster.read(`r${k}`);
    case 'compact':
      return cluster.compact(forgeryVoters[action.member]!);
    case 'restart':
      return cluster.restart(forgeryVoters[action.member]!);
    case 'forge': {
      const { to, msg } = buildForgery(action.forgery, cluster);
      return cluster.forge(to, msg);
    }
  }
}

/** Ticks and delivers everything until one member leads; returns it. */
function electLeader(cluster: ForgeryCluster, ticksMax = 200): NodeId {
  for (let i = 0; i < ticksMax; i++) {
    cluster.tick();
    for (let n = 0; n < 100 && cluster.inflight.length > 0; n++) cluster.deliver(0, false);
    const leader = cluster.leader();
    if (leader !== null) return leader;
  }
  throw new Error(`no leader within ${ticksMax} ticks`);
}

describe('forged messages from an authenticated member', () => {
  it('(a) drops impossible messages with no effect: the swarm run replays event for event and stays safe and live', async () => {
    let injected = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...simSeeds),
        fc.array(fc.record({ tick: fc.nat(safetyTicks - 1), impossible: impossibleArb(ids) }), {
          minLength: 1,
          maxLength: 25,
        }),
        fuzz.counted('impossible', async (seed, injections) => {
          injected += injections.length;
          const lines = await runWithInjections(seed, injections);
          const expected = await baseline(seed);
          const diverged = lines.findIndex((l, i) => l !== expected[i]);
          if (diverged >= 0 || lines.length !== expected.length) {
            const at = diverged >= 0 ? diverged : Math.min(lines.length, expected.length);
            throw new Error(
              `run diverged at trace line ${at}: got ${lines[at]} instead of ${expected[at]}; injected ${injections.map((i) => `t${i.tick} ${i.impossible.why}`).join(', ')}`,
            );
          }
        }),
      ),
      fuzz.params('impossible'),
    );
    expect(injected).toBeGreaterThan(runs.impossible * 5);
  });

  it('(b) never throws on well-formed lies, and every member keeps its own invariants', () => {
    const totals = { forged: 0, applied: 0, restarts: 0, leaders: 0 };
    fc.assert(
      fc.property(
        fc.nat(),
        fc.boolean(),
        fc.boolean(),
        fc.array(actionArb, { minLength: 40, maxLength: 120 }),
        fuzz.counted('wellFormedLies', (seed, preVote, checkQuorum, actions) => {
          const cluster = new ForgeryCluster(seed, { preVote, checkQuorum });
          // Let a leader emerge first, so the lies meet a working cluster.
          electLeader(cluster);
          for (const [k, a] of actions.entries()) play(cluster, a, k);
          totals.forged += cluster.counts.forged;
          totals.applied += cluster.counts.applied;
          totals.restarts += cluster.counts.restarts;
          totals.leaders += cluster.counts.leaders;
        }),
      ),
      fuzz.params('wellFormedLies'),
    );
    // The runs did what they claim: many lies, against clusters that elected, applied and restarted.
    expect(totals.forged).toBeGreaterThan(runs.wellFormedLies * 5);
    expect(totals.applied).toBeGreaterThan(runs.wellFormedLies);
    expect(totals.restarts).toBeGreaterThan(runs.wellFormedLies / 4);
    expect(totals.leaders).toBeGreaterThan(runs.wellFormedLies);
  });

  it('(b) a forged snapshot at the top of the index range cannot push a member past the safe integers', () => {
    for (const index of [positionMax, positionMax + 1, Number.MAX_SAFE_INTEGER]) {
      const cluster = new ForgeryCluster(7, { preVote: true, checkQuorum: true });
      const leader = electLeader(cluster);
      const victim = forgeryVoters.find((v) => v !== leader)!;
      const before = cluster.node(victim).status();
      const { term } = before;
      const meta = { index, term, voters: forgeryVoters, learners: [] };
      cluster.forge(victim, {
        type: 'snapshot',
        from: leader,
        to: victim,
        term,
        snapshot: { meta, data: new Uint8Array([1]) },
      });
      // Taken in up to positionMax; above it the message is impossible and dropped.
      expect(cluster.node(victim).status().lastIndex).toBe(index <= positionMax ? index : before.lastIndex);
      // Now make it campaign: its log is at least as up to date as the others', so it wins.
      cluster.forge(victim, { type: 'timeoutNow', from: leader, to: victim, term });
      for (let i = 0; i < 50 && cluster.leader() !== victim; i++) {
        cluster.tick();
        for (let n = 0; n < 100 && cluster.inflight.length > 0; n++) cluster.deliver(0, false);
      }
      expect(cluster.leader()).toBe(victim);
      // Its no-op went right after, still a safe integer (the cluster checked every member throughout).
      expect(cluster.node(victim).status().lastIndex).toBe(
        (index <= positionMax ? index : before.lastIndex) + 1,
      );
    }
  });
});
