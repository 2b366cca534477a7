/**
 * The simulated clients: each has at most one request outstanding, a write with a run-unique id
 * and value or a ReadIndex read, sent to the member it believes leads (following notLeader hints,
 * else any member). They wait as the node's API does, on the group's real Waiters, and read the
 * state machine once the read index is applied. A request that times out leaves its outcome
 * unknown; it is never retried.
 */
import type { NodeId } from '../../src/raft/types.js';
import type { ClientHistory, PendingRead, PendingWrite, ReadAnswer } from './client-history.js';
import type { SimMember } from './sim-member.js';
import type { SimRandom } from './sim-random.js';
import { encodeWrite } from './sim-state-machine.js';
import type { SwarmParams } from './swarm-params.js';

interface SimClient {
  readonly name: string;
  /** The member the client will ask next; null means any. */
  target: NodeId | null;
  request: PendingWrite | PendingRead | null;
  sentTick: number;
  /** No new request before this tick. */
  idleUntilTick: number;
}

/** Ticks a client waits after a refusal before it asks again. */
const backoffTicks = 3;

/** Every client of one run; `act` once per tick. */
export class SimClients {
  readonly #random: SimRandom;
  readonly #params: SwarmParams;
  readonly #members: ReadonlyMap<NodeId, SimMember>;
  readonly #history: ClientHistory;
  readonly #trace: ((line: string) => void) | null;
  readonly #fail: (err: unknown) => void;
  readonly #tickMs: number;
  readonly #clients: SimClient[] = [];
  #writeIdLast = 0;
  #readIdLast = 0;
  readonly counts = { writesProposed: 0, readsIssued: 0, refused: 0, timedOut: 0 };

  constructor(opts: {
    random: SimRandom;
    params: SwarmParams;
    members: ReadonlyMap<NodeId, SimMember>;
    history: ClientHistory;
    trace: ((line: string) => void) | null;
    /** Receives what a checker threw while a client heard its answer (between the simulation's awaits). */
    fail: (err: unknown) => void;
    tickMs: number;
  }) {
    this.#random = opts.random;
    this.#params = opts.params;
    this.#members = opts.members;
    this.#history = opts.history;
    this.#trace = opts.trace;
    this.#fail = opts.fail;
    this.#tickMs = opts.tickMs;
    for (let i = 1; i <= opts.params.clientCount; i++) {
      this.#clients.push({ name: `c${i}`, target: null, request: null, sentTick: 0, idleUntilTick: 0 });
    }
  }

  /** True when no client waits for an answer. */
  isIdle(): boolean {
    return this.#clients.every((c) => c.request === null || c.request.done);
  }

  /** One tick of every client: give up on late requests and, if `issuing`, maybe send new ones. */
  act(now: number, issuing: boolean): void {
    for (const client of this.#clients) {
      const request = client.request;
      if (request !== null && !request.done && now - client.sentTick >= this.#params.requestTimeoutTicks) {
        request.done = true;
        this.counts.timedOut++;
        client.target = null;
        this.#trace?.(`${client.name} gives up on ${'ctx' in request ? request.ctx : `w${request.id}`}`);
      }
      if (client.request?.done) client.request = null;
      if (!issuing || client.request !== null || now < client.idleUntilTick) continue;
      if (!this.#random.chance(this.#params.requestPermille)) continue;
      this.#send(client, now);
    }
  }

  #send(client: SimClient, now: number): void {
    const id = client.target ?? this.#random.pick([...this.#members.keys()]);
    const member = this.#members.get(id)!;
    if (!member.isRunning) {
      client.target = null;
      client.idleUntilTick = now + backoffTicks;
      return;
    }
    const key = `k${this.#random.int(this.#params.keyCount)}`;
    if (this.#random.chance(this.#params.readPermille)) this.#read(client, member, key, now);
    else this.#write(client, member, key, now);
  }

  #write(client: SimClient, member: SimMember, key: string, now: number): void {
    const id = ++this.#writeIdLast;
    const value = `${client.name}.${id}`;
    const result = member.node.propose(encodeWrite({ id, key, value }));
    if (!result.ok) {
      this.#refused(client, member, result.leader, result.reason, now);
      return;
    }
    this.counts.writesProposed++;
    const write: PendingWrite = {
      id,
      key,
      value,
      index: result.index,
      term: result.term,
      member: member.id,
      done: false,
    };
    this.#trace?.(
      `${client.name} w${id} ${key}=${value} proposed at ${member.id} as ${result.index}/${result.term}`,
    );
    const group = member.group;
    group.waiters.waitProposal(result.index, result.term, this.#deadlineMs(now)).then(
      (appliedId) => this.#writeDone(write, appliedId),
      () => this.#writeDone(write, null),
    );
    member.schedule();
    client.request = write;
    client.sentTick = now;
  }

  /** The waiter answered: acknowledged with the id of the write applied there, or failed (null). */
  #writeDone(write: PendingWrite, appliedId: number | null): void {
    if (write.done) return;
    write.done = true;
    const acked = appliedId !== null;
    this.#trace?.(
      `w${write.id} ${acked ? 'acknowledged' : 'failed'} at ${write.member} ${write.index}/${write.term}`,
    );
    try {
      if (acked && appliedId !== write.id) {
        throw new Error(
          `proposal identity: ${write.member} proposed write ${write.id} at ${write.index}/${write.term} ` +
            `but acknowledged write ${appliedId} applied there`,
        );
      }
      this.#history.onWriteDone(write, acked);
    } catch (err) {
      this.#fail(err);
    }
  }

  #read(client: SimClient, member: SimMember, key: string, now: number): void {
    const ctx = `r${++this.#readIdLast}`;
    const result = member.node.readIndex(ctx);
    if (!result.ok) {
      this.#refused(client, member, result.leader, result.reason, now);
      return;
    }
    this.counts.readsIssued++;
    const read: PendingRead = {
      ctx,
      key,
      member: member.id,
      ackedIndexMax: this.#history.ackedIndexMax,
      done: false,
    };
    this.#trace?.(`${client.name} ${ctx} ${key} at ${member.id} must see ${read.ackedIndexMax}`);
    const group = member.group;
    group.waiters.waitRead(ctx, this.#deadlineMs(now)).then(
      (readIndex) => {
        const value = group.sm.read(key)?.value ?? null;
        this.#readDone(read, { readIndex, applied: group.applied, value });
      },
      () => this.#readDone(read, null),
    );
    member.schedule();
    client.request = read;
    client.sentTick = now;
  }

  #readDone(read: PendingRead, answer: ReadAnswer | null): void {
    if (read.done) return;
    read.done = true;
    this.#trace?.(
      answer === null
        ? `${read.ctx} failed at ${read.member}`
        : `${read.ctx} ${read.key}=${answer.value} at ${read.member} index=${answer.readIndex} applied=${answer.applied}`,
    );
    try {
      this.#history.onReadDone(read, answer);
    } catch (err) {
      this.#fail(err);
    }
  }

  /** The waiters give up a tick after the client does. */
  #deadlineMs(now: number): number {
    return (now + this.#params.requestTimeoutTicks + 1) * this.#tickMs;
  }

  #refused(client: SimClient, member: SimMember, leader: NodeId | null, reason: string, now: number): void {
    this.counts.refused++;
    const hinted = leader !== null && leader !== member.id && this.#members.has(leader);
    client.target = hinted ? leader : null;
    if (!hinted) client.idleUntilTick = now + backoffTicks;
    this.#trace?.(`${client.name} refused by ${member.id}: ${reason}, leader ${leader}`);
  }
}
