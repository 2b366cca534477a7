/**
 * The drive loop and the group on their own, over a MemoryStore whose writes complete only when
 * the test says, a recording transport and a clock the test runs by hand: what leaves before a
 * turn's write is durable, and when turns run at all.
 */
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/node/clock.js';
import { DriveLoop } from '../../../src/node/drive-loop.js';
import { Group } from '../../../src/node/group.js';
import type { StateMachine } from '../../../src/node/state-machine.js';
import { silentLogger } from '../../../src/raft/logger.js';
import { createRng } from '../../../src/raft/rng.js';
import type { Message } from '../../../src/raft/types.js';
import { MemoryStore } from '../../../src/storage/memory-store.js';
import type { GroupWrite, RaftStore } from '../../../src/storage/raft-store.js';
import type { GroupMessage } from '../../../src/transport/wire.js';

/** A machine that counts the commands it applied and answers each with its index. */
class CountingMachine implements StateMachine<number> {
  commands = 0;
  apply(index: number): number {
    this.commands++;
    return index;
  }
  applyNoop(): void {}
  snapshot(): Uint8Array {
    return new Uint8Array([this.commands]);
  }
}

/** Time stands still; `soon` callbacks run when the test calls runSoon(). */
class HandClock implements Clock {
  readonly #soon: (() => void)[] = [];
  now = () => 1_000;
  every = () => () => {};
  after = () => () => {};
  soon(fn: () => void): void {
    this.#soon.push(fn);
  }
  runSoon(): number {
    const fns = this.#soon.splice(0);
    for (const fn of fns) fn();
    return fns.length;
  }
}

/** A MemoryStore whose writes wait until release() (a disk the test holds mid-fsync). */
class HeldStore extends MemoryStore implements RaftStore {
  readonly held: { writes: readonly GroupWrite[]; sync: boolean; release: () => void }[] = [];
  override async write(writes: readonly GroupWrite[], opts: { readonly sync: boolean }): Promise<void> {
    await new Promise<void>((release) => this.held.push({ writes, sync: opts.sync, release }));
    return super.write(writes, opts);
  }
}

/** Lets every pending microtask and promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

async function setUp() {
  const store = new HeldStore();
  const clock = new HandClock();
  const sent: Message[] = [];
  const group = await Group.load(
    0,
    'a',
    { voters: ['a', 'b', 'c'], learners: [] },
    store,
    { electionTicks: 10, heartbeatTicks: 1, snapshotEntries: 1_000 },
    silentLogger,
    {
      machine: { empty: () => new CountingMachine(), restore: () => new CountingMachine() },
      clock,
      rng: createRng(1),
    },
  );
  const fatal: Error[] = [];
  const loop = new DriveLoop({
    groups: [group],
    store,
    transport: {
      send: (msgs: readonly GroupMessage[]) => sent.push(...msgs.map((m) => m.msg)),
      close: async () => {},
    },
    clock,
    onFatal: (err) => fatal.push(err),
  });
  /** Runs the clock's due callbacks and lets the turn go as far as it can. */
  const turn = async () => {
    clock.runSoon();
    await settle();
  };
  return { store, clock, sent, group, loop, fatal, turn };
}

const types = (msgs: readonly Message[]) => msgs.map((m) => `${m.type}>${m.to}`);

describe('the drive loop', () => {
  it('runs turns only when its clock calls back (clock.soon), one turn for many schedule() calls', async () => {
    const { clock, loop, group, sent, store } = await setUp();
    group.raft.step({
      type: 'requestVote',
      from: 'b',
      to: 'a',
      term: 1,
      pre: false,
      lastIndex: 0,
      lastTerm: 0,
      transfer: false,
    });
    loop.schedule();
    loop.schedule();
    await settle();
    expect(store.held).toHaveLength(0);
    expect(clock.runSoon()).toBe(1);
    await settle();
    expect(store.held).toHaveLength(1);
    expect(sent).toEqual([]);
  });

  it('sends a vote reply only once the vote is durable (§5.2: a vote is a promise kept across crashes)', async () => {
    const { loop, group, sent, store, turn } = await setUp();
    group.raft.step({
      type: 'requestVote',
      from: 'b',
      to: 'a',
      term: 1,
      pre: false,
      lastIndex: 0,
      lastTerm: 0,
      transfer: false,
    });
    loop.schedule();
    await turn();
    expect(store.held.map((h) => ({ sync: h.sync, hardState: h.writes[0]?.hardState }))).toEqual([
      { sync: true, hardState: { term: 1, vote: 'b', commit: 0 } },
    ]);
    expect(sent).toEqual([]);
    store.held[0]!.release();
    await loop.idle();
    await settle();
    expect(sent).toEqual([{ type: 'voteReply', from: 'a', to: 'b', term: 1, pre: false, granted: true }]);
  });

  it("sends a leader's appends while its own write is under way (thesis §10.2.1), its other messages after", async () => {
    const { loop, group, sent, store, turn } = await setUp();
    // Become leader of term 1: campaign by ticking, then grant the (pre-)votes as they come.
    for (let i = 0; i < 40 && group.raft.status().role !== 'leader'; i++) {
      group.raft.tick();
      loop.schedule();
      await turn();
      for (const h of store.held.splice(0)) h.release();
      await settle();
      for (const m of sent.splice(0)) {
        if (m.type === 'requestVote' && m.to === 'b') {
          group.raft.step({ type: 'voteReply', from: 'b', to: 'a', term: m.term, pre: m.pre, granted: true });
        }
      }
    }
    expect(group.raft.status().role).toBe('leader');
    loop.schedule();
    await turn();
    // The new leader's no-op is being written; its appends are already out.
    expect(store.held.some((h) => h.writes.some((w) => w.entries.length > 0))).toBe(true);
    expect(types(sent).sort()).toEqual(['append>b', 'append>c']);
    for (const h of store.held.splice(0)) h.release();
    await loop.idle();
  });

  it('stops after a failed write and reports it once', async () => {
    const { loop, group, fatal, store, turn, sent } = await setUp();
    group.raft.step({
      type: 'requestVote',
      from: 'b',
      to: 'a',
      term: 1,
      pre: false,
      lastIndex: 0,
      lastTerm: 0,
      transfer: false,
    });
    store.failNextWrite(new Error('EIO'));
    loop.schedule();
    await turn();
    store.held[0]!.release();
    await loop.idle();
    expect(fatal.map((e) => e.message)).toEqual(['EIO']);
    expect(sent).toEqual([]);
    loop.schedule();
    await turn();
    expect(store.held).toHaveLength(1);
  });
});

describe('the group', () => {
  it('toWrite() is a function of the Ready: a commit-only hard state is held back, then rides along once applied', async () => {
    const { group } = await setUp();
    const ready = (over: object) => ({
      hardState: null,
      entries: [],
      snapshot: null,
      mustSync: false,
      messages: [],
      committed: [],
      readStates: [],
      softState: null,
      ...over,
    });
    const commitOnly = ready({ hardState: { term: 2, vote: 'a', commit: 3 } });
    expect(group.toWrite(commitOnly)).toBeNull();
    const entry = { index: 4, term: 2, kind: 'noop' as const, data: new Uint8Array(0) };
    const next = ready({ entries: [entry], mustSync: true });
    // Asking again, or for another Ready, changes nothing until the commit-only Ready is carried out.
    expect(group.toWrite(commitOnly)).toBeNull();
    expect(group.toWrite(next)?.hardState).toBeNull();
    group.applyReady(commitOnly);
    expect(group.toWrite(next)).toEqual({
      group: 0,
      installSnapshot: null,
      compactSnapshot: null,
      entries: [entry],
      hardState: { term: 2, vote: 'a', commit: 3 },
    });
  });
});
