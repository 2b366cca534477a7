/**
 * A bare three-member cluster of RaftNodes for feeding forged messages: a shell that carries out
 * every Ready to the letter (persist into a durable copy, send, apply in order, advance), a
 * network the script drives message by message, restarts from the durable copy, compaction. It
 * has no safety checker on purpose: a forged message from a member can break Raft's safety, which
 * assumes honest members. What it checks, after every action, is each member's own invariants.
 */

import { RaftNode } from '../../../src/raft/raft-node.js';
import { createRng } from '../../../src/raft/rng.js';
import {
  type DurableState,
  defaultRaftTuning,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RaftConfig,
  type Ready,
  type Snapshot,
} from '../../../src/raft/types.js';

export const forgeryVoters: readonly NodeId[] = ['n1', 'n2', 'n3'];

const isPosition = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

interface Member {
  node: RaftNode;
  incarnation: number;
  durable: { hardState: HardState; snapshot: Snapshot | null; entries: Entry[] };
  /** What the state machine has applied (volatile: back to the snapshot on restart). */
  applied: number;
  /** The term and commit index last seen, to hold them monotonic. */
  termSeen: number;
  commitSeen: number;
}

/** Broken member invariants; the message names the member and what broke. */
export class MemberInvariantError extends Error {
  override readonly name = 'MemberInvariantError';
}

function check(cond: boolean, id: NodeId, what: string): void {
  if (!cond) throw new MemberInvariantError(`${id}: ${what}`);
}

export class ForgeryCluster {
  readonly #config: (id: NodeId) => RaftConfig;
  readonly #seed: number;
  readonly #members = new Map<NodeId, Member>();
  /** Messages sent and not yet delivered or lost, oldest first. */
  readonly inflight: Message[] = [];
  readonly counts = { delivered: 0, forged: 0, proposed: 0, applied: 0, restarts: 0, leaders: 0 };

  constructor(seed: number, tuning: { preVote: boolean; checkQuorum: boolean }) {
    this.#seed = seed;
    this.#config = (id) => ({
      ...defaultRaftTuning,
      ...tuning,
      inflightMax: 4,
      batchBytesMax: 256,
      id,
      voters: forgeryVoters,
    });
    for (const id of forgeryVoters) {
      const durable = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
      const m: Member = {
        node: this.#start(id, durable, 0, 0),
        incarnation: 0,
        durable,
        applied: 0,
        termSeen: 0,
        commitSeen: 0,
      };
      this.#members.set(id, m);
    }
  }

  #start(id: NodeId, durable: DurableState, applied: number, incarnation: number): RaftNode {
    const rng = createRng((this.#seed * 31 + forgeryVoters.indexOf(id) * 7 + incarnation) >>> 0);
    return new RaftNode(this.#config(id), durable, { rng, applied });
  }

  node(id: NodeId): RaftNode {
    return this.#members.get(id)!.node;
  }

  leader(): NodeId | null {
    for (const [id, m] of this.#members) if (m.node.status().role === 'leader') return id;
    return null;
  }

  tick(): void {
    for (const m of this.#members.values()) m.node.tick();
    this.#settle();
  }

  /** Delivers the in-flight message at `pick` (modulo), or drops it when `lose`. */
  deliver(pick: number, lose: boolean): void {
    if (this.inflight.length === 0) return;
    const [msg] = this.inflight.splice(pick % this.inflight.length, 1);
    if (lose) return;
    this.counts.delivered++;
    this.node(msg!.to).step(msg!);
    this.#settle();
  }

  /** Steps a message straight into `to`, as if an authenticated member had sent it. */
  forge(to: NodeId, msg: Message): void {
    this.counts.forged++;
    this.node(to).step(msg);
    this.#settle();
  }

  propose(data: Uint8Array): void {
    const leader = this.leader();
    if (leader === null) return;
    if (this.node(leader).propose(data).ok) this.counts.proposed++;
    this.#settle();
  }

  read(ctx: string): void {
    const leader = this.leader();
    if (leader === null) return;
    this.node(leader).readIndex(ctx);
    this.#settle();
  }

  /** The member snapshots its state machine at what it applied; the log before it goes. */
  compact(id: NodeId): void {
    const m = this.#members.get(id)!;
    const view = m.node.logView();
    if (m.applied <= view.snapshot.index) return;
    const term =
      m.applied === view.snapshot.index
        ? view.snapshot.term
        : view.entries[m.applied - view.snapshot.index - 1]!.term;
    const data = new Uint8Array([m.applied & 0xff]);
    m.node.compact(m.applied, data);
    m.durable.snapshot = { meta: { index: m.applied, term, voters: forgeryVoters, learners: [] }, data };
    m.durable.entries = m.durable.entries.filter((e) => e.index > m.applied);
    this.#settle();
  }

  /** Crash and restart from the durable copy: the core must load what it had persisted. */
  restart(id: NodeId): void {
    const m = this.#members.get(id)!;
    this.#checkDurable(id, m.durable);
    m.incarnation++;
    m.applied = m.durable.snapshot?.meta.index ?? 0;
    m.node = this.#start(id, m.durable, m.applied, m.incarnation);
    m.commitSeen = m.node.status().commit;
    this.counts.restarts++;
    this.#settle();
  }

  /** Carries out every Ready each member has, in the order the Ready type documents. */
  #settle(): void {
    for (let round = 0; round < 64; round++) {
      let any = false;
      for (const [id, m] of this.#members) {
        if (!m.node.hasReady()) continue;
        any = true;
        this.#handle(id, m, m.node.ready());
      }
      if (!any) break;
    }
    for (const [id, m] of this.#members) this.#checkMember(id, m);
  }

  #handle(id: NodeId, m: Member, rd: Ready): void {
    const d = m.durable;
    if (rd.snapshot !== null) {
      d.snapshot = rd.snapshot;
      d.entries = [];
    }
    const first = rd.entries[0];
    if (first !== undefined) d.entries = [...d.entries.filter((e) => e.index < first.index), ...rd.entries];
    if (rd.hardState !== null) d.hardState = rd.hardState;
    for (const msg of rd.messages) {
      check(
        msg.from === id && forgeryVoters.includes(msg.to) && msg.to !== id,
        id,
        `sends ${msg.type} from ${msg.from} to ${msg.to}`,
      );
      this.inflight.push(msg);
    }
    if (rd.snapshot !== null) {
      check(
        rd.snapshot.meta.index >= m.applied,
        id,
        `installs snapshot ${rd.snapshot.meta.index} below applied ${m.applied}`,
      );
      m.applied = rd.snapshot.meta.index;
    }
    for (const e of rd.committed) {
      check(e.index === m.applied + 1, id, `applies ${e.index} after ${m.applied}`);
      m.applied = e.index;
      this.counts.applied++;
    }
    if (rd.softState?.role === 'leader') this.counts.leaders++;
    m.node.advance(rd);
    if (this.inflight.length > 2_000) this.inflight.splice(0, this.inflight.length - 2_000);
  }

  /** The member's own invariants: positions ordered and safe, term and commit monotonic, log well formed. */
  #checkMember(id: NodeId, m: Member): void {
    const s = m.node.status();
    for (const [name, n] of Object.entries({
      term: s.term,
      commit: s.commit,
      applied: s.applied,
      lastIndex: s.lastIndex,
    })) {
      check(isPosition(n), id, `${name} ${n} is not a safe non-negative integer`);
    }
    check(
      s.snapshotIndex <= s.commit && s.applied <= s.commit && s.commit <= s.lastIndex,
      id,
      `positions out of order: ${JSON.stringify(s)}`,
    );
    check(s.term >= m.termSeen, id, `term went back from ${m.termSeen} to ${s.term}`);
    check(s.commit >= m.commitSeen, id, `commit went back from ${m.commitSeen} to ${s.commit}`);
    m.termSeen = s.term;
    m.commitSeen = s.commit;
    check(s.vote === null || forgeryVoters.includes(s.vote), id, `voted for ${s.vote}`);
    check(s.role !== 'leader' || s.leader === id, id, `leads with leader=${s.leader}`);
    const { snapshot, entries } = m.node.logView();
    let prev = { index: snapshot.index, term: snapshot.term };
    for (const e of entries) {
      check(
        e.index === prev.index + 1 && e.term >= prev.term && e.term <= s.term,
        id,
        `log has ${e.index}/${e.term} after ${prev.index}/${prev.term} in term ${s.term}`,
      );
      prev = e;
    }
    for (const f of m.node.followers())
      check(f.match < f.next, id, `follower ${f.id} match ${f.match} next ${f.next}`);
    this.#checkDurable(id, m.durable);
  }

  /** What was persisted can be loaded again: every position safe, the log contiguous after the snapshot. */
  #checkDurable(id: NodeId, d: Member['durable']): void {
    check(
      isPosition(d.hardState.term) && isPosition(d.hardState.commit),
      id,
      `persisted hard state ${JSON.stringify(d.hardState)}`,
    );
    const base = d.snapshot?.meta ?? { index: 0, term: 0 };
    check(
      isPosition(base.index) && isPosition(base.term),
      id,
      `persisted snapshot ${base.index}/${base.term}`,
    );
    d.entries.forEach((e, k) => {
      check(
        isPosition(e.index) && isPosition(e.term) && e.index === base.index + 1 + k,
        id,
        `persisted entry ${e.index}/${e.term} at ${k}`,
      );
    });
  }
}
