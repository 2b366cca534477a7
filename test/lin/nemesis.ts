/**
 * The nemesis: injects one fault at a time into a TestCluster, holds it, heals it, waits a quiet
 * spell, and again, until stopped. Fault kinds and their variants:
 *
 *   kill        SIGKILL the leader of a random shard / a random node / a majority; restart after the hold
 *   pause       SIGSTOP the leader of a random shard / a random node / a majority; SIGCONT after the hold
 *   partition   isolate a random node / a shard's leader; a random majority-minority split; a bridge:
 *               two sides that cannot talk and one node that talks to both
 *   membership  move a replica of a random shard to another node and back (other-node), or remove it
 *               and add it back (same-node), through the admin routes (membership.ts); it runs
 *               alongside the faults above, so the node being added may be the one killed or paused
 *   grow-shrink whole nodes join, are drained, or are killed and removed by force (grow-shrink.ts),
 *               alongside the faults above; the faults pick among the current members, never the
 *               node being added or removed, and that nemesis never picks a node a fault holds.
 *               Not together with membership, which puts shards back to their first voters.
 *
 * Kinds take turns in a random order each cycle, variants are picked at random, all from the
 * round's seed. Every fault is recorded with its start and heal times (ms since the run began)
 * and marked in every node's log; membership changes are recorded by the membership nemesis.
 */

import type { TestCluster } from '../../harness/index.js';
import { GrowShrinkNemesis, growShrinkVariants, type Spare } from './grow-shrink.js';
import { MembershipNemesis } from './membership.js';
import { membershipVariants } from './membership-plan.js';
import type { NetLab } from './netns.js';
import { Pacer } from './pacer.js';
import type { Rng } from './rng.js';

export const nemesisKinds = ['kill', 'pause', 'partition', 'membership', 'grow-shrink'] as const;
/** What `--nemesis all` runs: every kind that can run with the others (grow-shrink cannot, with membership). */
export const allNemeses: readonly NemesisKind[] = ['kill', 'pause', 'partition', 'membership'];
export const nemesisVariants = {
  kill: ['leader', 'random', 'majority'],
  pause: ['leader', 'random', 'majority'],
  partition: ['isolate-node', 'isolate-leader', 'majority-minority', 'bridge'],
  membership: membershipVariants,
  'grow-shrink': growShrinkVariants,
} as const;
export type NemesisKind = (typeof nemesisKinds)[number];
/** The kinds that inject one fault at a time (membership and grow-shrink run beside them). */
type FaultKind = Exclude<NemesisKind, 'membership' | 'grow-shrink'>;

export interface Fault {
  readonly id: number;
  readonly kind: FaultKind;
  readonly variant: string;
  /** Human-readable: what was done to whom. */
  readonly description: string;
  readonly targets: readonly string[];
  /** The cut links, for partitions. */
  readonly cuts: readonly (readonly [string, string])[];
  /** ms since the run began: injected, heal begun (restart, SIGCONT, reconnect), heal done. */
  readonly start: number;
  healBegan: number | null;
  healed: number | null;
}

export interface NemesisOptions {
  readonly kinds: readonly NemesisKind[];
  /** Only these variants (e.g. "isolate-leader", "majority") of the kinds that have one listed. */
  readonly variants?: readonly string[];
  /** How long a fault is held, ms (uniform in [min, max]). */
  readonly holdMs: readonly [number, number];
  /** How long the cluster is left alone between faults, ms. */
  readonly quietMs: readonly [number, number];
  readonly rng: Rng;
  /** The membership nemesis's own stream (so the faults' choices do not depend on it). */
  readonly membershipRng?: Rng;
  /** How long the membership nemesis may take to put every shard back when stopped (default 60 s). */
  readonly restoreMs?: number;
  /** The spare nodes grow-shrink may add (its pool beyond the cluster file's nodes). */
  readonly spares?: readonly Spare[];
  readonly now: () => number;
  readonly log: (line: string) => void;
}

export class Nemesis {
  readonly faults: Fault[] = [];
  readonly #cl: TestCluster;
  readonly #net: NetLab | null;
  readonly #o: NemesisOptions;
  readonly #kinds: readonly FaultKind[];
  /** Null unless `membership` is one of the kinds. */
  readonly membership: MembershipNemesis | null;
  /** Null unless `grow-shrink` is one of the kinds. */
  readonly growShrink: GrowShrinkNemesis | null;
  /** Nodes chosen for a fault about to begin (between the choice and #begin). */
  #claimed: readonly string[] = [];
  readonly #pace = new Pacer();
  #loop: Promise<void> | null = null;
  #active: { fault: Fault; heal: () => Promise<void> } | null = null;
  /** Errors of the nemesis itself (a node that would not restart...), for the report. */
  readonly errors: string[] = [];

  constructor(cluster: TestCluster, net: NetLab | null, o: NemesisOptions) {
    if (o.kinds.includes('partition') && net === null)
      throw new Error('the partition nemesis needs network namespaces');
    if (o.kinds.includes('membership') && o.kinds.includes('grow-shrink'))
      throw new Error('the membership and grow-shrink nemeses do not run together');
    this.#cl = cluster;
    this.#net = net;
    this.#o = o;
    this.#kinds = o.kinds.filter((k): k is FaultKind => k !== 'membership' && k !== 'grow-shrink');
    this.membership = o.kinds.includes('membership')
      ? new MembershipNemesis(cluster, {
          variants: o.variants ?? [],
          holdMs: o.holdMs,
          quietMs: o.quietMs,
          legMs: 30_000,
          requestTimeoutMs: 15_000,
          rng: o.membershipRng ?? o.rng,
          now: o.now,
          log: o.log,
          onError: (message) => this.errors.push(`membership: ${message}`),
        })
      : null;
    this.growShrink = o.kinds.includes('grow-shrink')
      ? new GrowShrinkNemesis(cluster, {
          spares: o.spares ?? [],
          membersMin: cluster.ids.length,
          variants: o.variants ?? [],
          quietMs: o.quietMs,
          changeMs: 90_000,
          rng: o.membershipRng ?? o.rng,
          now: o.now,
          log: o.log,
          onError: (message) => this.errors.push(`grow-shrink: ${message}`),
          faulted: () => [...this.#claimed, ...(this.#active?.fault.targets ?? [])],
        })
      : null;
  }

  get active(): Fault | null {
    return this.#active?.fault ?? null;
  }

  start(): void {
    this.#loop = this.#kinds.length === 0 ? Promise.resolve() : this.#run();
    this.membership?.start();
    this.growShrink?.start();
  }

  /**
   * Stops injecting, heals the fault in force, lets a node change under way end (grow-shrink),
   * then puts every shard back to its original voters (membership), and resolves once done.
   */
  async stop(): Promise<void> {
    this.#pace.stop();
    await Promise.all([this.#loop, this.membership?.stop(), this.growShrink?.stop()]);
    await this.membership?.restore(this.#o.restoreMs ?? 60_000);
  }

  async #run(): Promise<void> {
    const rng = this.#o.rng;
    let queue: FaultKind[] = [];
    while (!this.#pace.stopped) {
      await this.#pace.sleep(rng.int(...this.#o.quietMs));
      if (this.#pace.stopped) break;
      if (queue.length === 0) queue = rng.shuffle(this.#kinds);
      const kind = queue.shift()!;
      try {
        await this.#inject(kind);
      } catch (err) {
        this.#claimed = [];
        this.errors.push(`${kind}: ${(err as Error).message}`);
        this.#o.log(`nemesis: ${kind} failed: ${(err as Error).message}`);
      }
      if (this.#active === null) continue;
      await this.#pace.sleep(rng.int(...this.#o.holdMs));
      await this.#healActive();
    }
    await this.#healActive();
  }

  async #healActive(): Promise<void> {
    const a = this.#active;
    if (a === null) return;
    this.#active = null;
    a.fault.healBegan = this.#o.now();
    try {
      await a.heal();
    } catch (err) {
      this.errors.push(`healing ${a.fault.description}: ${(err as Error).message}`);
    }
    a.fault.healed = this.#o.now();
    this.#cl.mark('fault healed', { fault: a.fault.id, description: a.fault.description });
    this.#o.log(`nemesis: healed #${a.fault.id} ${a.fault.description}`);
  }

  #begin(
    kind: FaultKind,
    variant: string,
    description: string,
    targets: readonly string[],
    cuts: readonly (readonly [string, string])[],
    heal: () => Promise<void>,
  ): void {
    const fault: Fault = {
      id: this.faults.length + 1,
      kind,
      variant,
      description,
      targets,
      cuts,
      start: this.#o.now(),
      healBegan: null,
      healed: null,
    };
    this.faults.push(fault);
    this.#active = { fault, heal };
    this.#claimed = [];
    this.#cl.mark('fault', { fault: fault.id, description });
    this.#o.log(`nemesis: #${fault.id} ${description}`);
  }

  /** The leader of a random shard, or a random node (said so) when no leader is known right now. */
  async #leaderTarget(): Promise<{ node: string; what: string }> {
    const rng = this.#o.rng;
    const shard = rng.int(0, this.#cl.shards - 1);
    const leader = await this.#cl.leaderOf(shard);
    const ids = this.#targetable();
    if (leader !== null && ids.includes(leader)) return { node: leader, what: `leader of shard ${shard}` };
    return { node: rng.pick(ids), what: `random node (shard ${shard} had no leader here)` };
  }

  /** The members a fault may hit: all but the node grow-shrink is adding or removing. */
  #targetable(): string[] {
    const held = this.growShrink?.held ?? null;
    return this.#cl.ids.filter((id) => id !== held);
  }

  async #inject(kind: FaultKind): Promise<void> {
    const rng = this.#o.rng;
    const ids = this.#targetable();
    const majority = Math.floor(ids.length / 2) + 1;
    const variants: Record<FaultKind, readonly string[]> = nemesisVariants;
    const listed = variants[kind].filter((v) => (this.#o.variants ?? []).includes(v));
    const variant = rng.pick(listed.length > 0 ? listed : variants[kind]);
    if (kind === 'kill' || kind === 'pause') {
      let targets: string[];
      let what: string;
      if (variant === 'leader') {
        const t = await this.#leaderTarget();
        targets = [t.node];
        what = t.what;
      } else if (variant === 'random') {
        targets = [rng.pick(ids)];
        what = 'random node';
      } else {
        targets = rng.shuffle(ids).slice(0, majority).sort();
        what = 'majority';
      }
      // Claimed before the first await, so grow-shrink does not pick them meanwhile.
      this.#claimed = targets;
      if (kind === 'kill') {
        await Promise.all(targets.map((id) => this.#cl.kill(id)));
        this.#begin(kind, variant, `kill ${targets.join(',')} (${what})`, targets, [], async () => {
          await Promise.all(targets.map((id) => this.#cl.start(id)));
        });
      } else {
        for (const id of targets) this.#cl.pause(id);
        this.#begin(kind, variant, `pause ${targets.join(',')} (${what})`, targets, [], async () => {
          for (const id of targets) this.#cl.resume(id);
        });
      }
      return;
    }
    const net = this.#net!;
    const shuffled = rng.shuffle(ids);
    let sides: string[][];
    let what: string;
    let bridge: string | null = null;
    if (variant === 'isolate-node') {
      sides = [[shuffled[0]!], shuffled.slice(1)];
      what = `${shuffled[0]} isolated`;
    } else if (variant === 'isolate-leader') {
      const t = await this.#leaderTarget();
      sides = [[t.node], ids.filter((id) => id !== t.node)];
      what = `${t.node} (${t.what}) isolated`;
    } else if (variant === 'majority-minority') {
      const minority = shuffled.slice(0, ids.length - majority);
      sides = [minority, shuffled.slice(ids.length - majority)];
      what = `minority ${minority.join(',')} | majority ${sides[1]!.join(',')}`;
    } else {
      bridge = shuffled[0]!;
      const rest = shuffled.slice(1);
      const half = Math.ceil(rest.length / 2);
      sides = [rest.slice(0, half), rest.slice(half)];
      what = `${sides[0]!.join(',')} | ${sides[1]!.join(',')}, bridged by ${bridge}`;
    }
    const cuts: [string, string][] = [];
    for (const a of sides[0]!) for (const b of sides[1]!) cuts.push([a, b]);
    net.setCuts(cuts);
    const targets = bridge === null ? sides[0]! : [bridge];
    this.#begin(kind, variant, `partition ${what}`, targets, cuts, async () => net.heal());
  }
}
