/**
 * The grow-shrink nemesis: whole nodes join and leave the cluster, through the routes of README's
 * "Growing and shrinking the cluster", while the fault nemesis goes on killing, pausing and
 * partitioning. One change at a time, from the round's seed:
 *
 *   join     a spare node starts with `serve --join` and asks a running member to add it; the
 *            rebalancer then gives it replicas and leaders (a spare whose id a group's
 *            configuration still lists, its old replicas not yet replaced, waits: it would be
 *            refused)
 *   drain    `DELETE /v1/admin/nodes/{id}` of a member: the rebalancer moves its replicas off and
 *            removes it; once gone from the node table its process is stopped and its data
 *            directory deleted, and it becomes a spare again (a later join is a new node)
 *   replace  SIGKILL a member and, once the cluster sees it down, remove it with `?force=true` (a
 *            node whose disk died), then retire it the same way; the rebalancer re-creates its
 *            replicas on the others (and a later join brings the count back)
 *
 * The cluster stays between `membersMin` and `membersMin + spares` members: a join when at the
 * minimum, a drain or replace when at the maximum, otherwise either. A refused request (400, 409,
 * 503: a removal that would leave a shard without an up majority, say) is recorded and tried
 * again later; a removal accepted is followed until the node is gone from the table, however
 * long the faults make that take. Nodes that the fault nemesis holds are never chosen, and the
 * node being added or removed is held (`held`) so faults leave it alone. Every change is recorded
 * with its times and outcome and marked in every node's log.
 */

import type { NodeSpec, TestCluster } from '../../harness/index.js';
import { sleep } from '../../harness/index.js';
import { Pacer } from './pacer.js';
import type { Rng } from './rng.js';
import { errorCode } from './workload.js';

export const growShrinkVariants = ['join', 'drain', 'replace'] as const;
export type GrowShrinkVariant = (typeof growShrinkVariants)[number];

/** One whole-node change and how it ended. */
export interface NodeChange {
  readonly id: number;
  readonly variant: GrowShrinkVariant;
  readonly node: string;
  /** ms since the run began: asked, and done (or given up). */
  readonly start: number;
  end: number | null;
  /** done: joined / gone from the table; refused: answered no (nothing changed); failed: see detail. */
  outcome: 'done' | 'refused' | 'failed' | null;
  detail: string;
  /** The members after the change (or before it, when it did not happen). */
  members: string[];
}

/** A node that may join: where it listens (a namespace's address), or free loopback ports when absent. */
export interface Spare {
  readonly id: string;
  readonly spec?: NodeSpec;
}

export interface GrowShrinkOptions {
  /** The spare nodes: not members at the start. */
  readonly spares: readonly Spare[];
  /** The fewest members the nemesis leaves (the cluster file's node count). */
  readonly membersMin: number;
  /** The variants to choose from (all when empty). */
  readonly variants: readonly string[];
  /** How long between changes, ms. */
  readonly quietMs: readonly [number, number];
  /** How long a join or a removal may take before it is recorded as failed (the nemesis goes on). */
  readonly changeMs: number;
  readonly rng: Rng;
  readonly now: () => number;
  readonly log: (line: string) => void;
  readonly onError: (message: string) => void;
  /** The nodes the fault nemesis holds right now: never chosen. */
  readonly faulted: () => readonly string[];
}

interface NodeTableView {
  readonly epoch: number;
  readonly nodes: readonly { readonly id: string; readonly state: string; readonly up: boolean | null }[];
}

/** Whether `spec` is a namespace's address (kept for the node's next join). */
const net = (spec: NodeSpec) => spec.netns !== undefined;

export class GrowShrinkNemesis {
  readonly changes: NodeChange[] = [];
  /** The node being added or removed: the fault nemesis leaves it alone. */
  held: string | null = null;
  readonly #cl: TestCluster;
  readonly #o: GrowShrinkOptions;
  /** The spares not members now, by id. */
  readonly #spares = new Map<string, Spare>();
  readonly #pace = new Pacer();
  #loop: Promise<void> | null = null;

  constructor(cluster: TestCluster, o: GrowShrinkOptions) {
    this.#cl = cluster;
    this.#o = o;
    for (const spare of o.spares) this.#spares.set(spare.id, spare);
  }

  /** The cluster's members as the harness knows them (running or not). */
  members(): string[] {
    return [...this.#cl.ids];
  }

  start(): void {
    this.#loop = this.#run();
  }

  /** Stops choosing new changes; resolves once the one under way has ended. */
  async stop(): Promise<void> {
    this.#pace.stop();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const rng = this.#o.rng;
    while (!this.#pace.stopped) {
      await this.#pace.sleep(rng.int(...this.#o.quietMs));
      if (this.#pace.stopped) break;
      const variant = this.#choose();
      if (variant === null) continue;
      try {
        if (variant === 'join') await this.#join();
        else await this.#remove(variant);
      } catch (err) {
        this.#o.onError(`${variant}: ${(err as Error).message}`);
        this.#o.log(`grow-shrink: ${variant} failed: ${(err as Error).message}`);
      } finally {
        this.held = null;
      }
    }
  }

  /** What to do next, or null when nothing fits now (every candidate held by a fault). */
  #choose(): GrowShrinkVariant | null {
    const rng = this.#o.rng;
    const listed = growShrinkVariants.filter((v) => this.#o.variants.includes(v));
    const allowed: readonly GrowShrinkVariant[] = listed.length > 0 ? listed : growShrinkVariants;
    const members = this.members().length;
    const canGrow = this.#spares.size > 0 && allowed.includes('join');
    const shrinks = allowed.filter((v) => v !== 'join');
    const canShrink = members > this.#o.membersMin && shrinks.length > 0;
    if (canGrow && (!canShrink || rng.int(0, 1) === 0)) return 'join';
    return canShrink ? rng.pick(shrinks) : null;
  }

  #begin(variant: GrowShrinkVariant, node: string): NodeChange {
    const change: NodeChange = {
      id: this.changes.length + 1,
      variant,
      node,
      start: this.#o.now(),
      end: null,
      outcome: null,
      detail: '',
      members: this.members(),
    };
    this.changes.push(change);
    this.held = node;
    this.#cl.mark('node change', { change: change.id, description: `${variant} ${node}` });
    this.#o.log(`grow-shrink: N${change.id} ${variant} ${node} (members ${change.members.join(',')})`);
    return change;
  }

  #end(change: NodeChange, outcome: 'done' | 'refused' | 'failed', detail: string): void {
    change.end = this.#o.now();
    change.outcome = outcome;
    change.detail = detail;
    change.members = this.members();
    this.#cl.mark('node change over', {
      change: change.id,
      description: `${change.variant} ${change.node} ${outcome}`,
    });
    this.#o.log(
      `grow-shrink: N${change.id} ${change.variant} ${change.node} ${outcome} after ${((change.end - change.start) / 1000).toFixed(1)} s` +
        `${detail === '' ? '' : `: ${detail}`} (members ${change.members.join(',')})`,
    );
  }

  /** Running members the fault nemesis does not hold: whom to ask, and whom a removal may pick. */
  #free(): string[] {
    const faulted = new Set(this.#o.faulted());
    return this.#cl.running().filter((id) => !faulted.has(id));
  }

  async #join(): Promise<void> {
    const rng = this.#o.rng;
    const via = this.#free();
    if (via.length === 0) return;
    const spare = this.#spares.get(rng.pick([...this.#spares.keys()].sort()))!;
    // An id whose old replicas are still being replaced is refused (503) until they are: wait.
    if (await this.#listed(spare.id)) {
      this.#o.log(`grow-shrink: ${spare.id} still has old replicas being replaced; no join this time`);
      return;
    }
    const change = this.#begin('join', spare.id);
    this.#spares.delete(spare.id);
    try {
      // Resolves once the node has joined and serves (serve --join asks until it is added).
      await Promise.race([
        this.#cl.join(spare.id, {
          via: rng.shuffle(via),
          ...(spare.spec === undefined ? {} : { spec: spare.spec }),
        }),
        sleep(this.#o.changeMs).then(() => {
          throw new Error(`not joined within ${this.#o.changeMs / 1000} s`);
        }),
      ]);
      this.#end(change, 'done', '');
    } catch (err) {
      // Whatever happened, the node is not known to be a member: take it back out.
      this.#end(change, 'failed', (err as Error).message);
      this.#o.onError(`join ${spare.id}: ${(err as Error).message}`);
      await this.#settleFailedJoin(spare);
    }
  }

  /**
   * A join that did not finish: if the table has the node, remove it by force (it is then
   * retired); either way it becomes a spare again.
   */
  async #settleFailedJoin(spare: Spare): Promise<void> {
    if (this.#cl.isRunning(spare.id)) await this.#cl.kill(spare.id);
    const deadline = performance.now() + this.#o.changeMs;
    while (performance.now() < deadline) {
      const t = await this.#table();
      if (t !== null && !t.nodes.some((n) => n.id === spare.id)) break;
      if (t !== null) await this.#ask('DELETE', `/v1/admin/nodes/${spare.id}?force=true`);
      await sleep(1_000);
    }
    await this.#cl.retire(spare.id);
    this.#spares.set(spare.id, spare);
  }

  async #remove(variant: 'drain' | 'replace'): Promise<void> {
    const rng = this.#o.rng;
    const candidates = this.#free();
    // Someone else must remain to ask.
    if (candidates.length < 2) return;
    const node = rng.pick(candidates);
    const spec = this.#cl.spec(node);
    const change = this.#begin(variant, node);
    if (variant === 'replace') {
      await this.#cl.kill(node);
      // A removal by force is refused while the cluster still counts the node up: wait until the
      // membership leader has seen it down (it looks every second).
      const deadline = performance.now() + 15_000;
      while (performance.now() < deadline) {
        const t = await this.#table([node]);
        if (t?.nodes.some((n) => n.id === node && n.up === false)) break;
        await sleep(250);
      }
    }
    const path = `/v1/admin/nodes/${node}${variant === 'replace' ? '?force=true' : ''}`;
    const asked = await this.#ask('DELETE', path, [node]);
    if (asked.status !== 202 && asked.status !== 200 && asked.status !== 0) {
      this.#end(change, 'refused', `${asked.status} ${asked.text}`);
      // A refused replace leaves its killed node to be started again, as a kill fault would.
      if (variant === 'replace') await this.#restart(node);
      return;
    }
    // Accepted, or no answer (outcome unknown): follow the table until the node is gone.
    const deadline = performance.now() + this.#o.changeMs;
    for (;;) {
      const t = await this.#table([node]);
      if (t !== null && !t.nodes.some((n) => n.id === node)) break;
      if (t !== null && asked.status === 0 && !t.nodes.some((n) => n.id === node && n.state === 'leaving')) {
        // The request was lost before it changed anything: the node is still a member.
        this.#end(change, 'refused', `no answer (${asked.text}) and the table still has it active`);
        if (variant === 'replace') await this.#restart(node);
        return;
      }
      if (performance.now() > deadline && change.detail === '') {
        // Keep following a while: a node that is neither retired nor a member would confuse the round.
        change.detail = `still in the table after ${this.#o.changeMs / 1000} s`;
        this.#o.onError(`${variant} ${node}: ${change.detail}`);
      }
      if (performance.now() > deadline + 2 * this.#o.changeMs) {
        // Stuck: the round reports it (onError above); the node stays a member, running.
        this.#end(change, 'failed', `still in the table after ${(3 * this.#o.changeMs) / 1000} s; given up`);
        if (variant === 'replace') await this.#restart(node);
        return;
      }
      await sleep(500);
    }
    await this.#cl.retire(node);
    // On loopback a returning node gets new free ports; in a namespace, its own address again.
    this.#spares.set(node, net(spec) ? { id: node, spec } : { id: node });
    const late = change.detail;
    this.#end(change, late === '' ? 'done' : 'failed', late);
  }

  async #restart(node: string): Promise<void> {
    try {
      if (!this.#cl.isRunning(node)) await this.#cl.start(node);
    } catch (err) {
      this.#o.onError(`restarting ${node} after a refused replace: ${(err as Error).message}`);
    }
  }

  /**
   * Whether any group's configuration (each shard's and the membership group's, from their
   * leaders) still lists `id`; true as well when one could not be read.
   */
  async #listed(id: string): Promise<boolean> {
    const groups = [...Array.from({ length: this.#cl.shards }, (_, s) => String(s)), 'membership'];
    for (const g of groups) {
      const r = await this.#ask('GET', `/v1/admin/shards/${g}/members`);
      if (r.status !== 200) return true;
      const c = JSON.parse(r.text) as { voters: string[]; learners: string[] };
      if (c.voters.includes(id) || c.learners.includes(id)) return true;
    }
    return false;
  }

  /** GET /v1/admin/nodes from a free member (not `not`), or null when none answered. */
  async #table(not: readonly string[] = []): Promise<NodeTableView | null> {
    const r = await this.#ask('GET', '/v1/admin/nodes', not);
    return r.status === 200 ? (JSON.parse(r.text) as NodeTableView) : null;
  }

  /**
   * One request to a random free member other than `not`; status 0 and the error's code when
   * no answer came (or there was nobody to ask).
   */
  async #ask(
    method: 'GET' | 'DELETE',
    path: string,
    not: readonly string[] = [],
  ): Promise<{ status: number; text: string }> {
    const ask = this.#free().filter((id) => !not.includes(id));
    if (ask.length === 0) return { status: 0, text: 'no member to ask' };
    const via = this.#o.rng.pick(ask);
    try {
      const r = await this.#cl.request(method, path, { node: via, timeoutMs: 10_000 });
      return { status: r.status, text: r.text() };
    } catch (err) {
      return { status: 0, text: errorCode(err) };
    }
  }
}
