/**
 * Changing a shard's members under a steady write load (README "Changing a shard's members"):
 * on a 4-node cluster where each shard has 3 replicas, shard 0 moves onto the node that had
 * none of it (learner, caught up, promoted), then loses one original voter and finally its own
 * leader. Writes with sessions never stall for longer than about an election, every
 * acknowledged write reads back exactly and none is applied twice, changes of one shard are
 * refused with 409 while another is pending, and a shard's last voter cannot be removed.
 * The node that gained the replica keeps it, and serves it, across a restart.
 */

import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { expectError } from './api-assertions.js';
import { type ErrorBody, type Reply, type TestCluster, useCluster } from './harness.js';
import { type SessionAck, SessionWriters } from './session-writers.js';
import { checkSessionWrites } from './workload.js';

/** The answer of every membership route. */
interface Members {
  readonly shard: number;
  readonly voters: string[];
  readonly learners: string[];
}

/** One shard of GET /v1/cluster. */
interface ClusterShard {
  readonly shard: number;
  readonly members: string[];
  readonly voters: string[];
  readonly learners: { readonly id: string; readonly lag: number | null }[];
  readonly leader: string | null;
  readonly term: number | null;
}

/** The parts of a GET /v1/status group this test reads. */
interface Replica {
  readonly shard: number;
  readonly role: string;
  readonly leader: string | null;
  readonly conf: { readonly voters: string[]; readonly learners: string[] };
  readonly followers: { readonly id: string; readonly learner: boolean; readonly lag: number }[];
}

/** The shard whose replicas move. */
const moved = 0;
/** The shard that is brought down to one voter (409 and the last-voter refusal). */
const shrunk = 2;
/** Writes may stall for about one election (400-800 ms by default), never more than this. */
const gapMaxMs = 2_000;

function changeRequest(cl: TestCluster, method: 'POST' | 'DELETE', path: string, via: string, body?: object) {
  return cl.request(method, `/v1/admin/shards/${path}`, {
    node: via,
    timeoutMs: 15_000,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
}

/**
 * A membership change as an operator makes it: a `503` means nothing was changed (README), so it
 * is asked again until another answer comes; each `503` is noted in `refusals` for the report.
 */
function changer(cl: TestCluster, refusals: string[]) {
  return (method: 'POST' | 'DELETE', path: string, via: string, body?: object): Promise<Reply> =>
    cl.waitFor(
      async () => {
        const r = await changeRequest(cl, method, path, via, body);
        if (r.status !== 503) return r;
        refusals.push(`${method} ${path} via ${via}: ${r.json<ErrorBody>().error.message}`);
        return null;
      },
      { timeoutMs: 15_000, intervalMs: 100, what: `${method} ${path} answered other than 503` },
    );
}

/** A membership answer must be 200 with exactly these members. */
function expectMembers(r: Reply, want: Members): void {
  expect({ status: r.status, body: r.status === 200 ? r.json<Members>() : r.text() }).toEqual({
    status: 200,
    body: want,
  });
}

async function clusterShard(cl: TestCluster, via: string, shard: number): Promise<ClusterShard> {
  const r = await cl.request('GET', '/v1/cluster', { node: via, timeoutMs: 2_000 });
  expect(r.status).toBe(200);
  return r.json<{ shards: ClusterShard[] }>().shards[shard]!;
}

/** The node's replicas, by shard. */
async function replicas(cl: TestCluster, id: string): Promise<Replica[]> {
  return ((await cl.status(id)).groups as unknown as Replica[]).sort((x, y) => x.shard - y.shard);
}

async function replicaOf(cl: TestCluster, id: string, shard: number): Promise<Replica | null> {
  return (await replicas(cl, id)).find((g) => g.shard === shard) ?? null;
}

/** Waits until `id` holds no replica of `shard` (it applied its removal and deleted it). */
async function waitRemoved(cl: TestCluster, id: string, shard: number): Promise<void> {
  await cl.waitFor(async () => (await replicaOf(cl, id, shard)) === null, {
    timeoutMs: 5_000,
    what: `${id} to delete its replica of shard ${shard}`,
  });
}

describe('changing a shard’s members under writes', () => {
  // The moves here are made by hand: the rebalancer would otherwise move replicas onto n4 itself.
  const cluster = useCluster({
    name: 'membership',
    nodes: 4,
    shards: 3,
    replicas: 3,
    tuning: { rebalance: false },
  });
  /** Each key's last acknowledged write, once the first test has stopped its writers. */
  let finalWrites: Map<string, SessionAck> | null = null;
  /** The node that gained a replica of `moved`. */
  let gainer = '';

  it('moves a shard onto the free node and off its leader while writes go on: none lost, none twice, no gap over 2000 ms', async () => {
    const cl = cluster();
    const original = cl.membersOf(moved);
    expect(original).toEqual(['n1', 'n2', 'n3']);
    gainer = cl.ids.find((id) => !original.includes(id))!;
    expect(gainer).toBe('n4');
    expect(cl.membersOf(shrunk)).toEqual(['n3', 'n4', 'n1']);

    const keys = [
      ...cl.keysOfShard(moved, 3, 'membership/moved/'),
      ...cl.keysOfShard(1, 1, 'membership/other/'),
      ...cl.keysOfShard(shrunk, 1, 'membership/shrunk/'),
    ];
    const writers = new SessionWriters(cl, { keys, pauseMs: 10, retryPauseMs: 20, finishMs: 10_000 });
    const steps: string[] = [];
    let fromMs = 0;
    const timed = async <T>(what: string, step: () => Promise<T>): Promise<T> => {
      const startedMs = performance.now();
      const out = await step();
      steps.push(`${what} ${Math.round(performance.now() - startedMs)} ms`);
      return out;
    };
    /** Waits for 30 more acknowledged writes of `shard`, so every change is followed by load. */
    const ackedSoon = async (what: string, shard = moved) => {
      const sinceMs = performance.now();
      await cl.waitFor(
        () => writers.acked.filter((a) => a.shard === shard && a.endedMs > sinceMs).length >= 30,
        {
          what: `writes to shard ${shard} after ${what}`,
        },
      );
    };
    let conflictOutcome = '';
    const refusals: string[] = [];
    const change = changer(cl, refusals);

    writers.start();
    try {
      await ackedSoon('the start');
      fromMs = performance.now();
      const leader = await cl.waitLeader(moved);
      expect(leader).toBe('n1');

      // 1. A learner on the free node (asked through that node, which forwards to the leader).
      const added = await timed('add learner', () =>
        change('POST', `${moved}/members`, gainer, { node: gainer, role: 'learner' }),
      );
      expectMembers(added, { shard: moved, voters: original, learners: [gainer] });
      const caughtUp = await timed('learner caught up', () =>
        cl.waitFor(
          async () => {
            const s = await clusterShard(cl, leader, moved);
            return s.learners[0]?.lag === 0 ? s : null;
          },
          { timeoutMs: 10_000, what: `learner ${gainer} of shard ${moved} with lag 0 on ${leader}` },
        ),
      );
      expect(caughtUp).toEqual({
        shard: moved,
        members: [...original, gainer],
        voters: original,
        learners: [{ id: gainer, lag: 0 }],
        leader,
        term: caughtUp.term,
      });
      const learner = await replicaOf(cl, gainer, moved);
      expect({ role: learner?.role, leader: learner?.leader, conf: learner?.conf }).toEqual({
        role: 'follower',
        leader,
        conf: { voters: original, learners: [gainer] },
      });
      const leaderView = await replicaOf(cl, leader, moved);
      expect(leaderView?.followers.map((f) => [f.id, f.learner]).sort()).toEqual([
        ['n2', false],
        ['n3', false],
        [gainer, true],
      ]);
      await ackedSoon('adding the learner');

      // 2. Promoted (asked through another member).
      const promoted = await timed('promote', () => change('POST', `${moved}/promote/${gainer}`, 'n2'));
      const four = [...original, gainer];
      expectMembers(promoted, { shard: moved, voters: four, learners: [] });
      await cl.waitFor(
        async () => (await replicaOf(cl, gainer, moved))?.conf.voters.includes(gainer) === true,
        { timeoutMs: 5_000, what: `${gainer} to know it votes in shard ${moved}` },
      );
      expect((await replicaOf(cl, gainer, moved))?.conf).toEqual({ voters: four, learners: [] });
      await ackedSoon('the promotion');

      // 3. An original voter that does not lead goes (asked through that voter itself).
      const follower = original.filter((id) => id !== leader).at(-1)!;
      expect(follower).toBe('n3');
      const three = four.filter((id) => id !== follower);
      const removed = await timed('remove follower', () =>
        change('DELETE', `${moved}/members/${follower}`, follower),
      );
      expectMembers(removed, { shard: moved, voters: three, learners: [] });
      await waitRemoved(cl, follower, moved);
      expect((await replicas(cl, follower)).map((g) => g.shard)).toEqual([1, shrunk]);
      await ackedSoon(`removing ${follower}`);

      // 4. The leader's own replica goes: it hands leadership over, the new leader removes it.
      // No other change is pending, so anything but 200 (after 503s, which change nothing) is wrong.
      const two = three.filter((id) => id !== leader);
      const left = await timed('remove leader', () => change('DELETE', `${moved}/members/${leader}`, leader));
      expectMembers(left, { shard: moved, voters: two, learners: [] });
      await waitRemoved(cl, leader, moved);
      expect((await replicas(cl, leader)).map((g) => g.shard)).toEqual([shrunk]);
      const heir = await cl.waitLeader(moved);
      expect(two).toContain(heir);
      const after = await clusterShard(cl, heir, moved);
      expect(after).toEqual({
        shard: moved,
        members: two,
        voters: two,
        learners: [],
        leader: heir,
        term: after.term,
      });
      await ackedSoon(`removing ${leader}`);

      // Two changes of one shard at once: the second to reach the leader finds the first
      // pending (409, nothing done) unless the first had already committed.
      const shrunkLeader = await cl.waitLeader(shrunk);
      expect(shrunkLeader).toBe('n3');
      const [a, b] = ['n4', 'n1'] as const;
      const both = await Promise.all([
        changeRequest(cl, 'DELETE', `${shrunk}/members/${a}`, shrunkLeader),
        changeRequest(cl, 'DELETE', `${shrunk}/members/${b}`, shrunkLeader),
      ]);
      const statuses = both.map((r) => r.status);
      conflictOutcome = statuses.join('/');
      expect([
        [200, 409],
        [409, 200],
        [200, 200],
      ]).toContainEqual(statuses);
      for (const [k, r] of both.entries()) {
        const target = [a, b][k]!;
        if (r.status === 200) {
          const voters = r.json<Members>().voters;
          expect([[shrunkLeader, ...[a, b].filter((id) => id !== target)], [shrunkLeader]]).toContainEqual(
            voters,
          );
        } else {
          expect(r.json()).toEqual({
            error: {
              code: 'conflict',
              message: `another membership change of shard ${shrunk} is pending (or its new leader has not committed yet); nothing was changed`,
            },
          });
          const retry = await change('DELETE', `${shrunk}/members/${target}`, shrunkLeader);
          expectMembers(retry, { shard: shrunk, voters: [shrunkLeader], learners: [] });
        }
      }
      await waitRemoved(cl, a, shrunk);
      await waitRemoved(cl, b, shrunk);

      // The last voter cannot be removed; nothing changes.
      const last = await change('DELETE', `${shrunk}/members/${shrunkLeader}`, 'n2');
      expect(expectError(last, 400, 'bad_request')).toBe(
        `removing node ${shrunkLeader} would leave shard ${shrunk} without a voter`,
      );
      const alone = await clusterShard(cl, shrunkLeader, shrunk);
      expect({ voters: alone.voters, learners: alone.learners, leader: alone.leader }).toEqual({
        voters: [shrunkLeader],
        learners: [],
        leader: shrunkLeader,
      });
      await ackedSoon(`shard ${shrunk} down to one voter`, shrunk);
    } finally {
      await writers.stop();
    }

    const gapMs = writers.longestGapMs(fromMs);
    const movedGapMs = writers.longestGapMs(fromMs, moved);
    const last = writers.lastAcked();

    // Every key's last three writes sent again under their (client, seq): answered with their
    // first version, applied no second time (the final read would show the older value).
    const { replays, report, twice } = await checkSessionWrites(cl, writers, keys, {
      node: gainer,
      replayed: 3,
    });
    console.log(
      `[membership] longest gap between acknowledged writes ${Math.round(gapMs)} ms (shard ${moved}: ` +
        `${Math.round(movedGapMs)} ms); ${steps.join('; ')}; concurrent changes: ${conflictOutcome}; ` +
        `changes answered 503 and asked again: ${refusals.length === 0 ? 'none' : refusals.join(' | ')}; ` +
        `writes: ${writers.summary()}`,
    );
    expect(writers.unexpected).toEqual([]);
    expect(writers.unfinished).toEqual([]);
    expect([...last.keys()].sort()).toEqual([...keys].sort());
    expect(replays).toEqual([]);
    expect(twice).toEqual([]);
    expect(report).toEqual({ checked: keys.length, wrong: [] });
    expect(gapMs).toBeLessThanOrEqual(gapMaxMs);
    expect(movedGapMs).toBeLessThanOrEqual(gapMaxMs);

    const hosted: Record<string, number[]> = {};
    for (const id of cl.ids) hosted[id] = (await replicas(cl, id)).map((g) => g.shard);
    expect(hosted).toEqual({ n1: [], n2: [0, 1], n3: [1, 2], n4: [0, 1] });
    finalWrites = last;
  });

  it('the node that gained the replica keeps it and serves it across a restart', async () => {
    const cl = cluster();
    if (finalWrites === null) throw new Error('needs the membership changes of the test before');
    const written = [...finalWrites.values()].filter((a) => a.shard === moved);
    expect(written.length).toBe(3);

    expect(await cl.term(gainer, { waitMs: 8_000 })).toBe(0);
    await cl.start(gainer);
    await cl.waitReady();

    const back = await replicaOf(cl, gainer, moved);
    expect(back?.conf).toEqual({ voters: ['n2', gainer], learners: [] });
    expect((await replicas(cl, gainer)).map((g) => g.shard)).toEqual([0, 1]);
    // Its replica serves reads from its own state (stale) once it has applied the last writes.
    for (const a of written) {
      const r = await cl.waitFor(
        async () => {
          const got = await cl.get(a.key, { node: gainer, stale: true });
          return got.status === 200 && got.text() === a.value ? got : null;
        },
        { timeoutMs: 5_000, what: `${gainer} to read ${a.key} as ${a.value} from its replica` },
      );
      expect({ etag: r.headers.etag, node: r.headers['x-raft-node'] }).toEqual({
        etag: `"${a.version}"`,
        node: gainer,
      });
    }

    // And it goes on replicating: a write after the restart reaches its replica.
    const key = cl.keysOfShard(moved, 1, 'membership/after-restart/')[0]!;
    const put = await cl.put(key, 'after the restart', { node: await cl.waitLeader(moved) });
    expect(put.status).toBe(200);
    const version = put.json<{ version: string }>().version;
    const seen = await cl.waitFor(
      async () => {
        const r = await cl.get(key, { node: gainer, stale: true });
        return r.status === 200 ? r : null;
      },
      { timeoutMs: 5_000, what: `${gainer} to apply a write made after its restart` },
    );
    expect({ value: seen.text(), etag: seen.headers.etag, node: seen.headers['x-raft-node'] }).toEqual({
      value: 'after the restart',
      etag: `"${version}"`,
      node: gainer,
    });
  });
});
