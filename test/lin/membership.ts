/**
 * The membership nemesis: moves one replica of a random shard to another node and back, through
 * the admin routes of README's "Changing a shard's members", while the other nemeses go on
 * injecting their faults. One shard moves at a time; each move has two legs:
 *
 *   other-node  (a node without a replica of the shard exists, e.g. 4 nodes, 3 replicas)
 *               there: add Y (learner, then promote; or role "voter"), remove X; back: add X, remove Y
 *   same-node   (every node has one, e.g. 3 and 3) there: remove X; back: add X again
 *
 * A leg is a target set of voters (no learners). The nemesis reads the shard's configuration from
 * its leader (`GET /v1/cluster` there), makes the one change that brings it closer (`nextChange`),
 * and reads again, whatever the answer was: a refusal (409, 400, 503) is counted and retried a
 * moment later, an unknown outcome (504, a timeout, a lost connection) is settled by what the
 * leader then says. It never removes a voter when that would leave fewer voters than a majority
 * of the shard's original set, and adds before it removes, so a shard is below its original
 * size only for the span of a same-node move. `stop()` ends the moves and `restore()` (called once
 * the other faults are healed) brings every shard back to its original voters and checks that each
 * of them holds a replica that follows the leader. Every change is recorded with its outcome and
 * marked in every node's log.
 */

import type { TestCluster } from '../../harness/index.js';
import { sleep } from '../../harness/index.js';
import {
  type Change,
  type ChangeOutcome,
  type Conf,
  countMembership,
  describeConf,
  effectOf,
  list,
  type MemberChange,
  type MemberMove,
  type MembershipRecord,
  majorityOf,
  membershipVariants,
  nextChange,
} from './membership-plan.js';
import { Pacer } from './pacer.js';
import type { Rng } from './rng.js';
import { errorCode, notSent } from './workload.js';

/** How the membership nemesis paces itself, where its choices come from and where it reports. */
export interface MembershipOptions {
  /**
   * The round's variants; those of this nemesis listed there are chosen from (both when none is),
   * `other-node` only where a node without a replica of each shard exists.
   */
  readonly variants: readonly string[];
  /** How long the first leg's configuration is held before going back, ms. */
  readonly holdMs: readonly [number, number];
  /** How long between moves, ms. */
  readonly quietMs: readonly [number, number];
  /** How long one leg may take before the move is given up (and the shard put back). */
  readonly legMs: number;
  /** The client-side timeout of one change request. */
  readonly requestTimeoutMs: number;
  readonly rng: Rng;
  readonly now: () => number;
  readonly log: (line: string) => void;
  readonly onError: (message: string) => void;
}

interface ClusterShard {
  readonly shard: number;
  readonly voters: string[];
  readonly learners: { readonly id: string; readonly lag: number | null }[];
  readonly leader: string | null;
}

/**
 * Moves replicas from `start()` until `stop()`, one shard at a time, then `restore()`; `record()`
 * is what it did. Only one of its own changes is ever in flight.
 */
export class MembershipNemesis {
  readonly moves: MemberMove[] = [];
  readonly changes: MemberChange[] = [];
  readonly #cl: TestCluster;
  readonly #o: MembershipOptions;
  /** Per shard, the voters it started with. */
  readonly #original: string[][];
  /** The variants this cluster allows and the options ask for. */
  readonly #variants: (typeof membershipVariants)[number][];
  /** Shards seen with fewer voters than a majority of their original set (reported once each time). */
  readonly #thin = new Set<number>();
  readonly #pace = new Pacer();
  #loop: Promise<void> | null = null;

  constructor(cluster: TestCluster, o: MembershipOptions) {
    this.#cl = cluster;
    this.#o = o;
    this.#original = Array.from({ length: cluster.shards }, (_, s) => cluster.membersOf(s));
    const listed = membershipVariants.filter((v) => o.variants.includes(v));
    const spare = cluster.ids.length > cluster.replicas;
    this.#variants = (listed.length > 0 ? listed : [...membershipVariants]).filter(
      (v) => v === 'same-node' || spare,
    );
    if (this.#variants.length === 0)
      throw new Error('the other-node membership variant needs more nodes than replicas (e.g. --nodes 4)');
  }

  /** The move under way, if any. */
  get active(): MemberMove | null {
    const m = this.moves.at(-1);
    return m === undefined || m.back !== null || m.abandoned !== null || m.cutShort ? null : m;
  }

  record(): MembershipRecord {
    return {
      moves: this.moves,
      changes: this.changes,
      counts: countMembership(this.moves, this.changes),
      original: this.#original,
    };
  }

  start(): void {
    this.#loop = this.#run();
  }

  /** Stops moving replicas; resolves once the change in flight (if any) has been answered. */
  async stop(): Promise<void> {
    this.#pace.stop();
    await this.#loop;
  }

  /**
   * Brings every shard back to its original voters and no learners, retrying for up to
   * `deadlineMs` in all, then checks that each of those voters really holds a replica that follows
   * the shard's leader (a configuration can name a voter whose node has no replica of the shard).
   * Reports each shard it could not restore, or whose replicas are missing, through `onError`.
   */
  async restore(deadlineMs: number): Promise<void> {
    const until = this.#o.now() + deadlineMs;
    for (let shard = 0; shard < this.#cl.shards; shard++) {
      const r = await this.#converge(shard, this.#original[shard]!, 'restore', null, until);
      const missing = r === 'done' ? await this.#replicasMissing(shard, until) : null;
      if (r !== 'done' || missing !== null) {
        const msg =
          r !== 'done'
            ? `restoring shard ${shard} to voters ${list(this.#original[shard]!)}: ${r}`
            : `shard ${shard} is back at voters ${list(this.#original[shard]!)}, but ${missing}`;
        this.#o.onError(msg);
        this.#o.log(`membership: ${msg}`);
      }
    }
  }

  /**
   * Null once every original voter of `shard` that runs hosts a replica of it that knows the
   * leader's term and leader (waited for until `until`); otherwise what is missing.
   */
  async #replicasMissing(shard: number, until: number): Promise<string | null> {
    const cl = this.#cl;
    let missing = 'no leader answered';
    const ok = await cl
      .waitFor(
        async () => {
          const reports = await cl.statuses(2_000);
          const leader = await cl.leaderOf(shard);
          const lead = leader === null ? undefined : reports.get(leader)?.find((g) => g.shard === shard);
          if (lead === undefined) return false;
          const wrong: string[] = [];
          for (const id of this.#original[shard]!) {
            if (!cl.running().includes(id)) continue;
            const groups = reports.get(id);
            const g = groups?.find((x) => x.shard === shard);
            if (groups === undefined) wrong.push(`${id} did not answer GET /v1/status`);
            else if (g === undefined)
              wrong.push(
                `${id} hosts no replica of it (its groups: ${groups.map((x) => x.shard).join(', ') || 'none'})`,
              );
            else if (g.term !== lead.term || g.leader !== leader)
              wrong.push(`${id}'s replica follows ${g.leader ?? 'no leader'} in term ${g.term}`);
          }
          missing = `${wrong.join('; ')} (leader ${leader} in term ${lead.term})`;
          return wrong.length === 0;
        },
        { timeoutMs: Math.min(20_000, Math.max(5_000, until - this.#o.now())), intervalMs: 250 },
      )
      .catch(() => false);
    return ok ? null : missing;
  }

  async #run(): Promise<void> {
    while (!this.#pace.stopped) {
      await this.#pace.sleep(this.#o.rng.int(...this.#o.quietMs));
      if (this.#pace.stopped) break;
      try {
        await this.#move();
      } catch (err) {
        this.#o.onError(`move failed: ${(err as Error).message}`);
        this.#o.log(`membership: move failed: ${(err as Error).message}`);
      }
    }
  }

  async #move(): Promise<void> {
    const rng = this.#o.rng;
    const o = this.#o;
    const shard = rng.int(0, this.#cl.shards - 1);
    const original = this.#original[shard]!;
    // A shard an earlier move could not put back is put back first.
    const repaired = await this.#converge(shard, original, 'repair', null, o.now() + o.legMs);
    if (this.#pace.stopped) return;
    if (repaired !== 'done') {
      o.log(`membership: shard ${shard} not at its original voters (${repaired}); no move this time`);
      return;
    }
    const elsewhere = this.#cl.ids.filter((id) => !original.includes(id));
    const variant = rng.pick(this.#variants);
    const from = rng.pick(original);
    const to = variant === 'other-node' ? rng.pick(elsewhere) : from;
    const move: MemberMove = {
      id: this.moves.length + 1,
      shard,
      variant,
      from,
      to,
      start: o.now(),
      there: null,
      back: null,
      abandoned: null,
      cutShort: false,
    };
    this.moves.push(move);
    const what =
      variant === 'other-node'
        ? `move shard ${shard}'s replica ${from} -> ${to} and back`
        : `remove shard ${shard}'s replica on ${from} and add it back`;
    this.#cl.mark('membership move', { move: move.id, shard, from, to });
    o.log(`membership: M${move.id} ${what}`);
    const there = [...original.filter((id) => id !== from), ...(to === from ? [] : [to])];
    const r1 = await this.#converge(shard, there, 'move', move.id, o.now() + o.legMs);
    if (r1 === 'done') {
      move.there = o.now();
      o.log(`membership: M${move.id} there: shard ${shard} voters ${list(there)}`);
      await this.#pace.sleep(rng.int(...o.holdMs));
    } else if (r1 !== 'stopped') {
      move.abandoned = `first leg: ${r1}`;
    }
    if (this.#pace.stopped) {
      move.cutShort = true;
      o.log(`membership: M${move.id} cut short by the end of the run; the restore puts shard ${shard} back`);
      return;
    }
    const r2 = await this.#converge(shard, original, 'move', move.id, o.now() + o.legMs);
    if (r2 === 'done') move.back = o.now();
    else if (r2 === 'stopped') move.cutShort = true;
    else move.abandoned ??= `way back: ${r2}`;
    const how =
      move.abandoned !== null ? `given up (${move.abandoned})` : move.cutShort ? 'cut short' : 'back';
    o.log(`membership: M${move.id} ${how}: shard ${shard}`);
  }

  /**
   * Changes shard `shard` one step at a time until its voters are `target` (and no learners), the
   * deadline passes, or (but for the restore) the nemesis stops. Resolves with `done` or why not.
   */
  async #converge(
    shard: number,
    target: readonly string[],
    phase: MemberChange['phase'],
    move: number | null,
    until: number,
  ): Promise<string> {
    const o = this.#o;
    const ignoreStop = phase === 'restore';
    const votersMin = majorityOf(this.#original[shard]!.length);
    let last: Conf | null = null;
    for (;;) {
      if (this.#pace.stopped && !ignoreStop) return 'stopped';
      const conf = await this.#readConf(shard, until, ignoreStop);
      if (conf === 'stopped') return 'stopped';
      if (conf === null)
        return `no leader of shard ${shard} answered${last === null ? '' : `; last seen ${describeConf(last)}`}`;
      last = conf;
      if (conf.voters.length >= votersMin) this.#thin.delete(shard);
      else if (!this.#thin.has(shard)) {
        this.#thin.add(shard);
        o.onError(
          `shard ${shard} has fewer voters than ${votersMin} at ${o.now().toFixed(0)} ms: ${describeConf(conf)}`,
        );
      }
      const next = nextChange(conf, target, votersMin, o.rng.next() < 0.5 ? 'addLearner' : 'addVoter');
      if (next === 'done') return 'done';
      if (next === 'blocked')
        return `blocked at ${describeConf(conf)}: removing a voter would leave fewer than ${votersMin}`;
      if (o.now() >= until) return `deadline passed at ${describeConf(conf)}`;
      const ch = await this.#change(shard, next, phase, move, conf, until);
      if (ch.outcome !== 'ok') {
        // Retry later: a pending change commits, a learner catches up, a leader is elected.
        if (ignoreStop) await sleep(o.rng.int(250, 750));
        else await this.#pace.sleep(o.rng.int(250, 750));
      }
    }
  }

  /**
   * The shard's configuration as its leader knows it, once one answers; null at the deadline;
   * `stopped` once the nemesis stops (unless `ignoreStop`).
   */
  async #readConf(shard: number, until: number, ignoreStop: boolean): Promise<Conf | 'stopped' | null> {
    const cl = this.#cl;
    try {
      return await cl.waitFor<Conf | 'stopped'>(
        async () => {
          if (this.#pace.stopped && !ignoreStop) return 'stopped';
          const leader = await cl.leaderOf(shard);
          if (leader === null) return null;
          const r = await cl.request('GET', '/v1/cluster', { node: leader, timeoutMs: 2_000 });
          if (r.status !== 200) return null;
          const s = r.json<{ shards: ClusterShard[] }>().shards.find((x) => x.shard === shard);
          if (s === undefined || s.leader !== leader) return null;
          return { voters: s.voters, learners: s.learners.map((l) => l.id) };
        },
        {
          timeoutMs: Math.max(0, until - this.#o.now()),
          intervalMs: 200,
          what: `the configuration of shard ${shard} from its leader`,
        },
      );
    } catch {
      return null;
    }
  }

  /** Sends one change through a random running node and records its answer. */
  async #change(
    shard: number,
    change: Change,
    phase: MemberChange['phase'],
    move: number | null,
    before: Conf,
    until: number,
  ): Promise<MemberChange> {
    const o = this.#o;
    const cl = this.#cl;
    const running = cl.running();
    const via = running.length === 0 ? null : o.rng.pick(running);
    const ch: MemberChange = {
      id: this.changes.length + 1,
      phase,
      move,
      shard,
      type: change.type,
      node: change.node,
      via,
      start: o.now(),
      end: o.now(),
      outcome: 'notSent',
      status: null,
      detail: via === null ? 'no running node to ask' : '',
      after: null,
      effect: null,
    };
    this.changes.push(ch);
    const tag = `${move === null ? phase : `M${move}`} #${ch.id} shard ${shard} ${change.type} ${change.node}`;
    if (via === null) {
      o.log(`membership: ${tag}: no running node to ask`);
      return ch;
    }
    const { method, path, body } = requestOf(shard, change);
    cl.mark('membership change', {
      change: ch.id,
      phase,
      move,
      shard,
      type: change.type,
      node: change.node,
      via,
    });
    try {
      const r = await cl.request(method, path, {
        node: via,
        timeoutMs: o.requestTimeoutMs,
        ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
      });
      ch.status = r.status;
      ch.outcome = outcomeOf(r.status);
      if (r.status === 200) {
        const a = r.json<Conf>();
        ch.after = { voters: a.voters, learners: a.learners };
      } else {
        ch.detail = errorMessage(r.text());
      }
      if (ch.outcome === 'unexpected')
        o.onError(`${tag} via ${via} answered ${r.status}, outside the API's contract: ${ch.detail}`);
    } catch (err) {
      const code = errorCode(err);
      ch.detail = code;
      ch.outcome = notSent.has(code) ? 'notSent' : 'unknown';
    }
    ch.end = o.now();
    if (ch.after === null) {
      const after = await this.#readConf(shard, Math.min(until, o.now() + 5_000), true);
      ch.after = after === 'stopped' ? null : after;
    }
    if (ch.after !== null) ch.effect = effectOf(change, before, ch.after);
    cl.mark('membership change answered', { change: ch.id, outcome: ch.outcome, status: ch.status });
    o.log(
      `membership: ${tag} via ${via}: ${ch.outcome}${ch.status === null ? '' : ` ${ch.status}`}` +
        `${ch.detail === '' ? '' : ` (${ch.detail})`}${ch.after === null ? '' : `; ${describeConf(ch.after)}`}`,
    );
    return ch;
  }
}

function requestOf(shard: number, c: Change): { method: string; path: string; body?: string } {
  const base = `/v1/admin/shards/${shard}`;
  switch (c.type) {
    case 'addLearner':
      return {
        method: 'POST',
        path: `${base}/members`,
        body: JSON.stringify({ node: c.node, role: 'learner' }),
      };
    case 'addVoter':
      return {
        method: 'POST',
        path: `${base}/members`,
        body: JSON.stringify({ node: c.node, role: 'voter' }),
      };
    case 'promote':
      return { method: 'POST', path: `${base}/promote/${c.node}` };
    case 'remove':
      return { method: 'DELETE', path: `${base}/members/${c.node}` };
  }
}

function outcomeOf(status: number): ChangeOutcome {
  if (status === 200) return 'ok';
  if (status === 409) return 'conflict';
  if (status === 400) return 'refused';
  if (status === 503) return 'unavailable';
  if (status === 504) return 'unknown';
  return 'unexpected';
}

function errorMessage(text: string): string {
  try {
    const e = JSON.parse(text) as { error?: { code?: string; message?: string } };
    return e.error?.message ?? text.slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}
