/**
 * A synchronous test cluster of RaftNodes in the style of etcd's `network`: every member keeps
 * what it persisted, messages are delivered in order until the cluster is quiet, and tests cut
 * links, crash members and restart them from what they persisted.
 */

import { RaftNode } from '../../../src/raft/raft-node.js';
import { createRng } from '../../../src/raft/rng.js';
import {
  defaultRaftTuning,
  type DurableState,
  type Entry,
  type Message,
  type NodeId,
  type RaftConfig,
  type Ready,
  type ReadState,
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

export class TestCluster {
  readonly members = new Map<NodeId, Member>();
  /** Directed links that drop everything: `${from}>${to}`. */
  readonly #cut = new Set<string>();
  #filter: ((m: Message) => boolean) | null = null;
  readonly #queue: Message[] = [];
  readonly delivered: Message[] = [];
  readonly config: Omit<RaftConfig, 'id'>;
  #seed: number;

  constructor(ids: readonly NodeId[], tuning: Partial<Omit<RaftConfig, 'id' | 'voters'>> = {}, seed = 1) {
    this.config = { ...defaultRaftTuning, ...tuning, voters: ids };
    this.#seed = seed;
    for (const id of ids) this.members.set(id, this.#boot(id, emptyDurable()));
  }

  #boot(id: NodeId, durable: Member['durable']): Member {
    const raft = new RaftNode({ ...this.config, id }, durable, { rng: createRng(this.#seed++) });
    return { id, raft, durable, applied: [], installed: durable.snapshot, readStates: [], readys: [] };
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

  deliver(msg: Message): void {
    if (this.#cut.has(`${msg.from}>${msg.to}`)) return;
    if (this.#filter !== null && !this.#filter(msg)) return;
    const target = this.members.get(msg.to);
    if (target === undefined) return;
    this.delivered.push(msg);
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
    for (let t = 0; t < 2 * this.config.electionTicks && m.raft.status().role === 'follower'; t++) m.raft.tick();
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
  }

  /** Delivers only messages for which `keep` is true. */
  filter(keep: (m: Message) => boolean): void {
    this.#filter = keep;
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

  /** The texts of the commands `id` applied, in order. */
  appliedTexts(id: NodeId): string[] {
    return this.get(id)
      .applied.filter((e) => e.kind === 'command')
      .map((e) => new TextDecoder().decode(e.data));
  }
}

export const text = (e: Entry): string => new TextDecoder().decode(e.data);
