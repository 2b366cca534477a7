/**
 * A synchronous test cluster of RaftNodes in the style of etcd's `network`: every member keeps
 * what it persisted, messages are delivered in order until the cluster is quiet, and tests cut
 * links, crash members and restart them from what they persisted, add members to a running group
 * and change its configuration through a member.
 */

import { RaftNode } from '../../../src/raft/raft-node.js';
import { createRng } from '../../../src/raft/rng.js';
import {
  type ConfChange,
  type ConfChangeResult,
  type ConfState,
  type DurableState,
  defaultRaftTuning,
  type Entry,
  type Message,
  type NodeId,
  type RaftConfig,
  type ReadState,
  type Ready,
  type Snapshot,
} from '../../../src/raft/types.js';

export interface Member {
  readonly id: NodeId;
  raft: RaftNode;
  durable: { hardState: DurableState['hardState']; snapshot: Snapshot | null; entries: Entry[] };
  applied: Entry[];
  installed: Snapshot | null;
  readStates: ReadState[];
  readys: Ready[];
}

const emptyDurable = (): Member['durable'] => ({
  hardState: { term: 0, vote: null, commit: 0 },
  snapshot: null,
  entries: [],
});

/** What a cluster did, in order, for transcripts: a Ready handled, a message delivered or dropped. */
export type ClusterEvent =
  | { readonly kind: 'ready'; readonly id: NodeId; readonly rd: Ready }
  | { readonly kind: 'deliver' | 'drop'; readonly msg: Message }
  | { readonly kind: 'crash'; readonly id: NodeId; readonly lost: Ready | null };

export class TestCluster {
  readonly members = new Map<NodeId, Member>();
  /** Directed links that drop everything: `${from}>${to}`. */
  readonly #cut = new Set<string>();
  #filter: ((m: Message) => boolean) | null = null;
  #rewrite: ((m: Message) => Message) | null = null;
  readonly #queue: Message[] = [];
  readonly delivered: Message[] = [];
  readonly config: Omit<RaftConfig, 'id'>;
  #seed: number;
  #observer: ((e: ClusterEvent) => void) | null = null;

  /** The first configuration each member was created with (see RaftConfig.voters). */
  readonly #first = new Map<NodeId, ConfState>();

  /**
   * A group whose first configuration has `ids` as voters and `tuning.learners` (if any) as
   * learners; every one of them is a member of the cluster.
   */
  constructor(ids: readonly NodeId[], tuning: Partial<Omit<RaftConfig, 'id' | 'voters'>> = {}, seed = 1) {
    const learners = tuning.learners ?? [];
    this.config = { ...defaultRaftTuning, ...tuning, voters: ids, learners };
    this.#seed = seed;
    for (const id of [...ids, ...learners]) this.#add(id, { voters: ids, learners });
  }

  #add(id: NodeId, first: ConfState): Member {
    if (this.members.has(id)) throw new Error(`member ${id} exists already`);
    this.#first.set(id, first);
    const m = this.#boot(id, emptyDurable());
    this.members.set(id, m);
    return m;
  }

  #boot(id: NodeId, durable: Member['durable']): Member {
    const { voters, learners } = this.#first.get(id)!;
    const raft = new RaftNode({ ...this.config, id, voters, learners }, durable, {
      rng: createRng(this.#seed++),
    });
    return { id, raft, durable, applied: [], installed: durable.snapshot, readStates: [], readys: [] };
  }

  /**
   * Starts a brand-new member with an empty log whose first configuration is `first`, as a
   * replica created to join a running group is (typically the leader's configuration with `id`
   * added as a learner). It takes part once a leader's configuration includes it.
   */
  addMember(id: NodeId, first: ConfState): Member {
    return this.#add(id, first);
  }

  /** Proposes `change` through member `id`, then lets the cluster run until it is quiet. */
  proposeConfChange(id: NodeId, change: ConfChange): ConfChangeResult {
    const res = this.get(id).raft.proposeConfChange(change);
    this.stabilize();
    return res;
  }

  get(id: NodeId): Member {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  /** Persists, sends, applies and advances every pending Ready of one member. */
  processReady(id: NodeId): boolean {
    const m = this.get(id);
    if (!m.raft.hasReady()) return false;
    const rd = m.raft.ready();
    m.readys.push(rd);
    this.#observer?.({ kind: 'ready', id, rd });
    if (rd.snapshot !== null) {
      m.durable.snapshot = rd.snapshot;
      m.durable.entries = [];
    }
    const first = rd.entries[0];
    if (first !== undefined) {
      const base = (m.durable.snapshot?.meta.index ?? 0) + 1;
      m.durable.entries = [...m.durable.entries.slice(0, first.index - base), ...rd.entries];
    }
    if (rd.hardState !== null) m.durable.hardState = rd.hardState;
    this.#queue.push(...rd.messages);
    if (rd.snapshot !== null) m.installed = rd.snapshot;
    m.applied.push(...rd.committed);
    m.readStates.push(...rd.readStates);
    m.raft.advance(rd);
    return true;
  }

  /** Handles Readys and delivers messages until nothing moves. */
  stabilize(stepsMax = 10_000): void {
    for (let step = 0; step < stepsMax; step++) {
      let moved = false;
      for (const id of this.members.keys()) moved = this.processReady(id) || moved;
      const msg = this.#queue.shift();
      if (msg !== undefined) {
        moved = true;
        this.deliver(msg);
      }
      if (!moved) return;
    }
    throw new Error('cluster did not stabilize');
  }

  deliver(sent: Message): void {
    const msg = this.#rewrite === null ? sent : this.#rewrite(sent);
    const target = this.members.get(msg.to);
    if (this.#cut.has(`${msg.from}>${msg.to}`) || (this.#filter !== null && !this.#filter(msg)) || !target) {
      this.#observer?.({ kind: 'drop', msg });
      return;
    }
    this.delivered.push(msg);
    this.#observer?.({ kind: 'deliver', msg });
    target.raft.step(msg);
  }

  /** Takes the messages now queued without delivering them. */
  takeQueued(): Message[] {
    for (const id of this.members.keys()) while (this.processReady(id));
    return this.#queue.splice(0);
  }

  tick(id: NodeId, ticks = 1): void {
    for (let t = 0; t < ticks; t++) this.get(id).raft.tick();
  }

  tickAll(ticks = 1): void {
    for (let t = 0; t < ticks; t++) {
      for (const m of this.members.values()) m.raft.tick();
      this.stabilize();
    }
  }

  /** Ticks `id` until its election timeout fires, then lets the campaign run to its end. */
  campaign(id: NodeId): void {
    const m = this.get(id);
    for (let t = 0; t < 2 * this.config.electionTicks && m.raft.status().role === 'follower'; t++) {
      m.raft.tick();
    }
    this.stabilize();
  }

  /** Elects `id` from a quiet cluster, letting followers' leases run out first. */
  elect(id: NodeId): void {
    for (const other of this.members.values()) {
      if (other.id !== id) this.tick(other.id, this.config.electionTicks);
    }
    this.campaign(id);
  }

  leaderIds(): NodeId[] {
    return [...this.members.values()].filter((m) => m.raft.status().role === 'leader').map((m) => m.id);
  }

  propose(id: NodeId, text: string): ReturnType<RaftNode['propose']> {
    const res = this.get(id).raft.propose(new TextEncoder().encode(text));
    this.stabilize();
    return res;
  }

  cut(from: NodeId, to: NodeId): void {
    this.#cut.add(`${from}>${to}`);
  }

  /** Symmetric partition: no link between the two sides. */
  partition(a: readonly NodeId[], b: readonly NodeId[]): void {
    for (const x of a) {
      for (const y of b) {
        this.cut(x, y);
        this.cut(y, x);
      }
    }
  }

  isolate(id: NodeId): void {
    this.partition(
      [id],
      [...this.members.keys()].filter((k) => k !== id),
    );
  }

  heal(): void {
    this.#cut.clear();
    this.#filter = null;
    this.#rewrite = null;
  }

  /** Delivers only messages for which `keep` is true. */
  filter(keep: (m: Message) => boolean): void {
    this.#filter = keep;
  }

  /**
   * Delivers every message as `fn` returns it, until heal(). Meant for appends that arrive
   * carrying only a prefix of their entries, as a smaller batch would have.
   */
  rewrite(fn: (m: Message) => Message): void {
    this.#rewrite = fn;
  }

  /**
   * The application of `id` snapshots its state at `index` (at most what it applied) and persists
   * the snapshot in place of the entries it covers, then the core drops them from its log.
   */
  compact(id: NodeId, index: number, data: Uint8Array): void {
    const m = this.get(id);
    m.raft.compact(index, data);
    const meta = m.raft.logView().snapshot;
    const base = (m.durable.snapshot?.meta.index ?? 0) + 1;
    m.durable.entries = m.durable.entries.slice(meta.index + 1 - base);
    m.durable.snapshot = { meta, data };
  }

  /** Loses the member's volatile state; it restarts from what it persisted. */
  restart(id: NodeId): void {
    const m = this.get(id);
    const durable = {
      hardState: m.durable.hardState,
      snapshot: m.durable.snapshot,
      entries: [...m.durable.entries],
    };
    this.members.set(id, this.#boot(id, durable));
  }

  /**
   * Crashes `id` after ready() handed out a Ready and before any of it was persisted or sent:
   * the Ready is lost and the member restarts from what it persisted before. Returns the lost Ready.
   */
  crashBeforePersist(id: NodeId): Ready | null {
    const m = this.get(id);
    const lost = m.raft.hasReady() ? m.raft.ready() : null;
    this.#observer?.({ kind: 'crash', id, lost });
    this.restart(id);
    return lost;
  }

  /** Ticks `id` alone until `done` holds, at most `ticksMax` times; returns the ticks taken. */
  tickUntil(id: NodeId, done: (m: Member) => boolean, ticksMax = 2 * this.config.electionTicks): number {
    const m = this.get(id);
    for (let t = 0; t < ticksMax; t++) {
      if (done(m)) return t;
      m.raft.tick();
    }
    if (done(m)) return ticksMax;
    throw new Error(`${id}: condition not reached within ${ticksMax} ticks`);
  }

  /** Calls `fn` with every Ready handled and every message delivered or dropped from now on. */
  observe(fn: ((e: ClusterEvent) => void) | null): void {
    this.#observer = fn;
  }

  /** The messages of `type` delivered so far, optionally only those `from` → `to`. */
  deliveredOf<T extends Message['type']>(
    type: T,
    route: { from?: NodeId; to?: NodeId } = {},
  ): Extract<Message, { type: T }>[] {
    return this.delivered.filter(
      (m): m is Extract<Message, { type: T }> =>
        m.type === type &&
        (route.from === undefined || m.from === route.from) &&
        (route.to === undefined || m.to === route.to),
    );
  }

  /** The texts of the commands `id` applied, in order. */
  appliedTexts(id: NodeId): string[] {
    return this.get(id)
      .applied.filter((e) => e.kind === 'command')
      .map((e) => new TextDecoder().decode(e.data));
  }
}

export const text = (e: Entry): string => new TextDecoder().decode(e.data);

/** Bytes of a command text. */
export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** `index:term` of each entry, for comparing logs and applied entries at a glance. */
export const positions = (entries: readonly Entry[]): string[] => entries.map((e) => `${e.index}:${e.term}`);

/** One RaftNode outside any cluster, for tests that hand it messages themselves. */
export function lone(
  id: NodeId,
  voters: readonly NodeId[],
  tuning: Partial<Omit<RaftConfig, 'id' | 'voters'>> = {},
  durable: Partial<DurableState> = {},
  seed = 1,
): RaftNode {
  return new RaftNode(
    { ...defaultRaftTuning, ...tuning, id, voters },
    { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [], ...durable },
    { rng: createRng(seed) },
  );
}

/** Takes the node's Ready and hands it straight back, as a shell that persisted it would. */
export function drain(raft: RaftNode): Ready {
  const rd = raft.ready();
  raft.advance(rd);
  return rd;
}

/** Entries of the given terms from index 1 on, as a persisted log. */
export function logOf(terms: readonly number[]): Entry[] {
  return terms.map((term, k) => ({ index: k + 1, term, kind: 'command', data: bytes(`e${k + 1}`) }));
}

/** A vote request as a candidate (or pre-candidate) would send it. */
export function voteRequest(
  from: NodeId,
  to: NodeId,
  term: number,
  last: { index: number; term: number },
  opts: { pre?: boolean; transfer?: boolean } = {},
): Message {
  return {
    type: 'requestVote',
    from,
    to,
    term,
    pre: opts.pre ?? false,
    lastIndex: last.index,
    lastTerm: last.term,
    transfer: opts.transfer ?? false,
  };
}
