/**
 * Growing and shrinking the cluster under a steady workload (README "Growing and shrinking the
 * cluster"): three nodes start from a cluster file (10 shards of 3 replicas); n4 and n5 join with
 * `serve --join` and the rebalancer spreads replicas and preferred leaders over five nodes; n1 is
 * drained and leaves the table (its process says it was removed); n2 is SIGKILLed, removed by
 * force, and a fresh n6 joins in its place. Each phase ends balanced: every node of the table
 * active and up, nothing moving, replicas and preferred leaderships per node within one of the
 * mean, every shard at 3 voters, and the shards' actual leaders spread the same way. Bad requests
 * are refused with the catalogue's errors and change nothing (the epoch stays). Writes with
 * sessions and linearizable reads go on throughout: every acknowledged write reads back with its
 * last value and version, none is applied twice, no read misses a write acknowledged before it
 * began, and no shard's writes stall for more than 1 s in a membership change (2 s across the
 * election after the kill). Each phase's convergence time and write gaps are printed.
 */

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { sleep } from '../../harness/index.js';
import { expectError } from './api-assertions.js';
import { freePorts, runCli, type TestCluster, useCluster } from './harness.js';
import { type SessionAck, SessionWriters } from './session-writers.js';
import { checkSessionWrites } from './workload.js';

/** One row of GET /v1/admin/nodes. */
interface NodeRow {
  readonly id: string;
  readonly api: string;
  readonly peer: string;
  readonly state: 'joining' | 'active' | 'leaving';
  readonly up: boolean | null;
  readonly replicas: number;
  readonly leaders: number;
}

/** GET /v1/admin/nodes. */
interface NodeTable {
  readonly epoch: number;
  readonly nodes: NodeRow[];
  readonly moving: (number | string)[];
  /** The rebalancer's last look (every second) found nothing to do. */
  readonly settled: boolean | null;
  readonly events: { atMs: number; kind: string; outcome: string }[];
}

/** One shard of GET /v1/cluster. */
interface ClusterShard {
  readonly shard: number;
  readonly voters: string[];
  readonly learners: { readonly id: string }[];
}

const shards = 10;
const replicas = 3;
/**
 * The longest a shard's writes may stall in a phase. Membership changes hand leadership over (no
 * election): under a second. A SIGKILLed leader costs an election (a 400-800 ms timeout, then
 * the vote; 0.7-1.1 s measured on a loaded 2-CPU machine), so the kill gets 2 s.
 */
const gapMaxMs = { grow: 1_000, drain: 1_000, kill: 2_000, replace: 1_000 } as const;

async function nodeTable(cl: TestCluster, via: string): Promise<NodeTable> {
  const r = await cl.request('GET', '/v1/admin/nodes', { node: via, timeoutMs: 3_000 });
  if (r.status !== 200) throw new Error(`GET /v1/admin/nodes via ${via}: ${r.status} ${r.text()}`);
  return r.json<NodeTable>();
}

/** Whether every count is within one of the mean `total / counts.length`. */
function withinOne(counts: readonly number[], total: number): boolean {
  const mean = total / counts.length;
  return counts.every((n) => Math.abs(n - mean) <= 1);
}

/**
 * The table once it is balanced over exactly `ids`; otherwise throws what is not yet so (the
 * wait's timeout message shows the last one).
 */
async function balancedTable(cl: TestCluster, ids: readonly string[], via: string): Promise<NodeTable> {
  const t = await nodeTable(cl, via);
  const rows = t.nodes.map((n) => `${n.id}:${n.state}:${n.up ? 'up' : 'down'}:${n.replicas}/${n.leaders}`);
  const shape = `epoch ${t.epoch}, moving [${t.moving.join(',')}], ${rows.join(' ')}`;
  if (
    t.nodes
      .map((n) => n.id)
      .sort()
      .join() !== [...ids].sort().join()
  )
    throw new Error(`table is not ${ids.join(',')}: ${shape}`);
  if (t.nodes.some((n) => n.state !== 'active' || n.up !== true))
    throw new Error(`not all active/up: ${shape}`);
  if (t.moving.length > 0) throw new Error(`still moving: ${shape}`);
  if (t.settled !== true) throw new Error(`the rebalancer is not settled: ${shape}`);
  const r = t.nodes.map((n) => n.replicas);
  const l = t.nodes.map((n) => n.leaders);
  if (!withinOne(r, shards * replicas) || r.reduce((a, b) => a + b, 0) !== shards * replicas)
    throw new Error(`replicas not within ±1 of ${(shards * replicas) / ids.length}: ${shape}`);
  if (!withinOne(l, shards) || l.reduce((a, b) => a + b, 0) !== shards)
    throw new Error(`preferred leaders not within ±1 of ${shards / ids.length}: ${shape}`);
  // The shards themselves, as their replicas on `via` (or the table) have them: 3 voters, no learner.
  const v = await cl.request('GET', '/v1/cluster', { node: via, timeoutMs: 3_000 });
  const c = v.json<{ epoch: number; nodes: { id: string; state: string }[]; shards: ClusterShard[] }>();
  const odd = c.shards.filter(
    (s) => s.voters.length !== replicas || s.learners.length > 0 || s.voters.some((id) => !ids.includes(id)),
  );
  if (odd.length > 0)
    throw new Error(
      `shards not at ${replicas} voters on ${ids.join(',')}: ${odd.map((s) => `${s.shard}:${s.voters.join('+')}`).join(' ')}`,
    );
  if (c.nodes.some((n) => n.state !== 'active'))
    throw new Error(`GET /v1/cluster: ${JSON.stringify(c.nodes)}`);
  return t;
}

/**
 * Each shard's actual leader (the highest term a node claims leadership in, recognised by every
 * running member of the shard, with `replicas` voters and no learner in its configuration) once
 * their counts per node of `ids` are within one of the mean; else throws what they are.
 */
async function settledLeaders(cl: TestCluster, ids: readonly string[]): Promise<string[]> {
  const reports = await cl.statuses(2_000);
  const leaders: string[] = [];
  for (let shard = 0; shard < shards; shard++) {
    const groups = [...reports.values()].flatMap((gs) => gs.filter((g) => g.shard === shard));
    const claims = groups.filter((g) => g.role === 'leader').sort((a, b) => b.term - a.term);
    const leader = claims[0];
    if (leader === undefined) throw new Error(`no leader of shard ${shard}`);
    if (groups.some((g) => g.leader !== leader.id || g.transferee !== null))
      throw new Error(`shard ${shard}: members disagree on ${leader.id} or a transfer is under way`);
    const { conf } = leader as unknown as { conf: { voters: string[]; learners: string[] } };
    if (conf.voters.length !== replicas || conf.learners.length > 0)
      throw new Error(
        `shard ${shard}: its leader ${leader.id} has voters ${conf.voters} learners ${conf.learners}`,
      );
    leaders.push(leader.id);
  }
  const counts = ids.map((id) => leaders.filter((l) => l === id).length);
  if (!withinOne(counts, shards) || leaders.some((l) => !ids.includes(l)))
    throw new Error(`actual leaders ${ids.map((id, i) => `${id}:${counts[i]}`).join(' ')}`);
  return leaders;
}

/**
 * The longest stretch without an acknowledged write (of `shard`, if given) within [fromMs, toMs],
 * counted from the last acknowledgement before `fromMs`.
 */
function gapIn(acks: readonly SessionAck[], fromMs: number, toMs: number, shard?: number): number {
  const ends = acks
    .filter((a) => (shard === undefined || a.shard === shard) && a.endedMs <= toMs)
    .map((a) => a.endedMs)
    .sort((a, b) => a - b);
  const before = ends.filter((t) => t < fromMs).at(-1) ?? fromMs;
  const inside = [before, ...ends.filter((t) => t >= fromMs), toMs];
  let gap = 0;
  for (let i = 1; i < inside.length; i++) gap = Math.max(gap, inside[i]! - inside[i - 1]!);
  return gap;
}

/**
 * Linearizable reads of the writers' keys, in `loops` loops: each read must show the key's write
 * acknowledged last before the read began, or a later one (`${key}#${seq}`).
 */
class Readers {
  readonly stale: string[] = [];
  readonly unexpected: string[] = [];
  readonly outcomes = new Map<string, number>();
  readonly #cl: TestCluster;
  readonly #writers: SessionWriters;
  readonly #keys: readonly string[];
  #stopped = false;
  #loops: Promise<void>[] = [];

  constructor(cl: TestCluster, writers: SessionWriters, keys: readonly string[]) {
    this.#cl = cl;
    this.#writers = writers;
    this.#keys = keys;
  }

  start(loops: number): void {
    this.#loops = Array.from({ length: loops }, (_, i) => this.#loop(i));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#loops);
  }

  summary(): string {
    return [...this.outcomes].map(([k, v]) => `${k}: ${v}`).join(', ');
  }

  async #loop(first: number): Promise<void> {
    for (let turn = first; !this.#stopped; turn++) {
      const key = this.#keys[turn % this.#keys.length]!;
      const floor = this.#writers.ackedOf(key).at(-1)?.seq ?? 0;
      const nodes = this.#cl.running();
      const node = nodes[turn % nodes.length]!;
      let label: string;
      try {
        const r = await this.#cl.get(key, { node, timeoutMs: 5_000 });
        label = String(r.status);
        if (r.status === 200) {
          const seq = Number(r.text().slice(key.length + 1));
          if (!(seq >= floor))
            this.stale.push(`${key} through ${node}: read ${r.text()} after #${floor} was acknowledged`);
        } else if (r.status === 404) {
          if (floor > 0) this.stale.push(`${key} through ${node}: 404 after #${floor} was acknowledged`);
        } else if (r.status !== 503 && r.status !== 504) {
          this.unexpected.push(`GET ${key} through ${node}: ${r.status} ${r.text().slice(0, 200)}`);
        }
      } catch (err) {
        const e = err as { code?: string; name?: string; cause?: { code?: string } };
        label = e.code ?? e.cause?.code ?? e.name ?? 'error';
      }
      this.outcomes.set(label, (this.outcomes.get(label) ?? 0) + 1);
      await sleep(label === '200' || label === '404' ? 5 : 20);
    }
  }
}

/** A server that answers GET /healthz as node `id`, as a joining node's API port does. */
async function healthAs(id: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: true, id }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('growing and shrinking the cluster under writes', () => {
  const cluster = useCluster({ name: 'grow-shrink', nodes: 3, shards, replicas });

  it('joins n4 and n5, drains n1, replaces a killed n2 by n6: balanced each time, no write lost or doubled, bad requests refused', async () => {
    const cl = cluster();
    const keys = Array.from({ length: shards }, (_, s) => cl.keysOfShard(s, 2, 'grow-shrink/')).flat();
    const writers = new SessionWriters(cl, { keys, pauseMs: 10, retryPauseMs: 20, finishMs: 10_000 });
    const readers = new Readers(cl, writers, keys);
    /**
     * Per phase: when it started, converged and ended (writes flowing again, leadership as
     * preferred), and what the table said; the write gaps are measured from start to end.
     */
    const phases: {
      name: keyof typeof gapMaxMs;
      fromMs: number;
      convergedMs: number;
      toMs: number;
      detail: string;
    }[] = [];
    const refusals: string[] = [];
    const post = (via: string, body: object) =>
      cl.request('POST', '/v1/admin/nodes', {
        node: via,
        timeoutMs: 15_000,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const del = (via: string, path: string) =>
      cl.request('DELETE', `/v1/admin/nodes/${path}`, { node: via, timeoutMs: 15_000 });
    /** Waits until the table is balanced over `ids` and the actual leaders have followed. */
    const converge = async (ids: readonly string[], via: string, timeoutMs: number) => {
      // The table first (placement and preferences), then the shards' actual leaders.
      const table = await cl.waitFor(() => balancedTable(cl, ids, via), {
        timeoutMs,
        intervalMs: 250,
        what: `the table balanced over ${ids.join(',')}`,
      });
      const tableMs = performance.now();
      const leaders = await cl.waitFor(() => settledLeaders(cl, ids), {
        timeoutMs: 15_000,
        intervalMs: 250,
        what: `actual leaders within ±1 of the mean over ${ids.join(',')}`,
      });
      const leadersMs = performance.now();
      const led = (ls: readonly string[]) => ids.map((id) => `${id}:${ls.filter((l) => l === id).length}`);
      const rows = table.nodes.map((n) => `${n.id} ${n.replicas}/${n.leaders}`).join(', ');
      // Measured, not asserted: how long until each node leads as many shards as it is preferred for.
      let preferred: string;
      try {
        await cl.waitFor(
          async () => {
            const [t, ls] = [await nodeTable(cl, via), await settledLeaders(cl, ids)];
            const want = t.nodes.map((n) => `${n.id}:${n.leaders}`).sort();
            if (led(ls).sort().join() !== want.join())
              throw new Error(`preferred ${want.join(' ')}, leading ${led(ls).join(' ')}`);
            return true;
          },
          { timeoutMs: 10_000, intervalMs: 250, what: 'leadership to match the preferences' },
        );
        preferred = `${Math.round(performance.now() - leadersMs)} ms later as preferred`;
      } catch (err) {
        preferred = `not as preferred after 10 s: ${(err as Error).message}`;
      }
      return {
        table,
        tableMs,
        leadersMs,
        detail: `epoch ${table.epoch}; replicas/preferred ${rows}; leading ${led(leaders).join(' ')} (${preferred})`,
      };
    };
    const ackedSoon = async (what: string) => {
      const sinceMs = performance.now();
      await cl.waitFor(() => writers.acked.filter((a) => a.endedMs > sinceMs).length >= 50, {
        what: `writes after ${what}`,
      });
    };
    const phase = async (
      name: keyof typeof gapMaxMs,
      ids: readonly string[],
      via: string,
      change: () => Promise<void>,
    ) => {
      cl.mark(`phase ${name}`);
      const fromMs = performance.now();
      await change();
      const { tableMs, leadersMs, detail } = await converge(ids, via, 60_000);
      await ackedSoon(name);
      phases.push({
        name,
        fromMs,
        convergedMs: leadersMs,
        toMs: performance.now(),
        detail: `table balanced ${Math.round(tableMs - fromMs)} ms; ${detail}`,
      });
    };

    // Before anything moves: a drain that would leave fewer than `replicas` nodes is refused
    // (once the rebalancer has seen the others up: until then it counts none).
    const { epoch: epoch0 } = await cl.waitFor(
      async () => {
        const t = await nodeTable(cl, 'n1');
        return t.nodes.every((n) => n.up === true) ? t : null;
      },
      { what: 'the rebalancer to see every node up' },
    );
    expect(expectError(await del('n2', 'n1'), 400, 'bad_request')).toBe(
      'draining node n1 would leave 2 node(s) up for shards of 3 replicas; add a node first',
    );
    const after0 = await nodeTable(cl, 'n3');
    expect({ epoch: after0.epoch, states: after0.nodes.map((n) => `${n.id}:${n.state}`) }).toEqual({
      epoch: epoch0,
      states: ['n1:active', 'n2:active', 'n3:active'],
    });

    writers.start();
    readers.start(4);
    try {
      await ackedSoon('the start');

      // 1. n4 and n5 join (serve --join, no cluster file).
      await phase('grow', ['n1', 'n2', 'n3', 'n4', 'n5'], 'n3', async () => {
        await Promise.all([cl.join('n4', { via: ['n1', 'n2'] }), cl.join('n5', { via: ['n3'] })]);
        expect(cl.logEvents('n4', 'joined the cluster')).toHaveLength(1);
      });

      // 2. n1 is drained. A second removal while it drains is refused and changes nothing.
      await phase('drain', ['n2', 'n3', 'n4', 'n5'], 'n4', async () => {
        const drain = await del('n3', 'n1');
        expect({ status: drain.status, body: drain.json() }).toMatchObject({
          status: 202,
          body: { node: 'n1', state: 'leaving' },
        });
        const second = await del('n4', 'n2');
        expect(expectError(second, 409, 'conflict')).toBe(
          'node n1 is being removed; one removal at a time, nothing was changed',
        );
        const t = await nodeTable(cl, 'n2');
        expect(t.nodes.find((n) => n.id === 'n2')?.state).toBe('active');
        // Until n1 is gone the rebalancer has work: the table never says settled meanwhile.
        expect(t.settled).toBe(false);
        await cl.waitFor(async () => !(await nodeTable(cl, 'n2')).nodes.some((n) => n.id === 'n1'), {
          timeoutMs: 60_000,
          intervalMs: 250,
          what: 'n1 to leave the node table',
        });
      });
      await cl.waitFor(
        () =>
          cl.logEvents(
            'n1',
            'this node was removed from the cluster; it hosts nothing more and can be stopped',
          ).length === 1,
        { timeoutMs: 10_000, what: 'n1 to log that it was removed from the cluster' },
      );
      expect((await cl.status('n1')).groups.filter((g) => g.shard < shards)).toEqual([]);
      expect(await cl.term('n1')).toBe(0);

      // 3. n2 dies: the shards it led elect new leaders (a failover, before any membership change).
      cl.mark('phase kill');
      const killMs = performance.now();
      await cl.kill('n2');
      await cl.waitLeaders();
      const ledMs = performance.now();
      await ackedSoon('the kill');
      phases.push({
        name: 'kill',
        fromMs: killMs,
        convergedMs: ledMs,
        toMs: performance.now(),
        detail: 'every shard led again',
      });

      // 4. n2 is removed by force (refused while the rebalancer still sees it up), and a fresh
      // node, n6, joins in its place.
      await phase('replace', ['n3', 'n4', 'n5', 'n6'], 'n5', async () => {
        await cl.waitFor(
          async () => {
            const r = await del('n3', 'n2?force=true');
            if (r.status === 200) return r;
            const message = expectError(r, 400, 'bad_request');
            if (message !== 'node n2 is up: drain it without --force, or stop it first')
              throw new Error(message);
            refusals.push(message);
            return null;
          },
          { timeoutMs: 15_000, intervalMs: 200, what: 'the forced removal of n2 to be accepted' },
        );
        // Its id cannot come back (a new node would stand for replicas it does not have) until
        // its old replicas have been replaced; nothing changes meanwhile.
        const back = await post('n4', { id: 'n2', api: cl.spec('n2').api, peer: cl.spec('n2').peer });
        expect(expectError(back, 503, 'unavailable')).toMatch(
          /^node n2 was removed, and its old replicas in shard \d+(, shard \d+)*(, the membership group)? are still being replaced; it can join once they are \(nothing was changed\)$/,
        );
        await cl.join('n6', { via: ['n4', 'n5'] });
      });

      // Bad requests on the settled cluster: refused, the table and its epoch as they were.
      const before = await balancedTable(cl, ['n3', 'n4', 'n5', 'n6'], 'n4');
      const n3 = cl.spec('n3');
      const [freeApi, freePeer] = await freePorts(2);
      const impostor = await healthAs('n3');
      try {
        const dup = await post('n5', { id: 'n3', api: impostor.url, peer: `http://127.0.0.1:${freePeer}` });
        expect(expectError(dup, 409, 'conflict')).toBe(
          `node id n3 is taken by a member (api ${n3.api}); if that node is gone for good, remove it with node remove n3 --force first`,
        );
      } finally {
        impostor.server.close();
      }
      const unreachable = `http://127.0.0.1:${freeApi}`;
      const nowhere = await post('n6', { id: 'n7', api: unreachable, peer: `http://127.0.0.1:${freePeer}` });
      expect(expectError(nowhere, 400, 'bad_request')).toMatch(
        new RegExp(`^node n7's api URL ${unreachable} does not answer \\(.*\\); nothing was changed$`),
      );
      expect(expectError(await del('n3', 'n9'), 404, 'not_found')).toBe(
        'node n9 is not a member of this cluster',
      );
      expect(expectError(await del('n6', 'n4?force=true'), 400, 'bad_request')).toBe(
        'node n4 is up: drain it without --force, or stop it first',
      );
      // serve --join under a member's id: its own API answers as n3, and the cluster refuses it.
      const [dupApi, dupPeer] = await freePorts(2);
      const joined = await runCli(
        [
          'serve',
          '--join',
          cl.spec('n4').api,
          '--id',
          'n3',
          '--api',
          `http://127.0.0.1:${dupApi}`,
          '--peer',
          `http://127.0.0.1:${dupPeer}`,
          '--data',
          `${cl.dir}/data/n3-again`,
        ],
        30_000,
      );
      expect({ code: joined.code, stderr: joined.stderr.trim().split('\n').length }).toEqual({
        code: 1,
        stderr: 1,
      });
      expect(joined.stderr).toContain('the cluster refused to add node n3: node id n3 is taken by a member');
      const after = await balancedTable(cl, ['n3', 'n4', 'n5', 'n6'], 'n3');
      expect({
        epoch: after.epoch,
        nodes: after.nodes.map(({ id, api, peer, state }) => ({ id, api, peer, state })),
      }).toEqual({
        epoch: before.epoch,
        nodes: before.nodes.map(({ id, api, peer, state }) => ({ id, api, peer, state })),
      });
      // Every answer carries the epoch: a write's is the settled table's.
      const put = await cl.put('grow-shrink/epoch-check', 'epoch', { node: 'n6' });
      expect({ status: put.status, epoch: put.headers['x-raft-epoch'] }).toEqual({
        status: 200,
        epoch: String(after.epoch),
      });
    } finally {
      await readers.stop();
      await writers.stop();
    }

    const last = writers.lastAcked();
    const { replays, report, twice } = await checkSessionWrites(cl, writers, keys, {
      node: 'n5',
      replayed: 2,
    });
    const gaps = phases.map((p) => {
      const all = gapIn(writers.acked, p.fromMs, p.toMs);
      const perShard = Array.from({ length: shards }, (_, s) => gapIn(writers.acked, p.fromMs, p.toMs, s));
      const worst = Math.max(...perShard);
      return { name: p.name, all, worst, shard: perShard.indexOf(worst) };
    });
    for (const p of phases) {
      const g = gaps.find((x) => x.name === p.name)!;
      console.log(
        `[grow-shrink] ${p.name}: converged in ${Math.round(p.convergedMs - p.fromMs)} ms` +
          `${p.detail === '' ? '' : ` (${p.detail})`}; ` +
          `longest write gap ${Math.round(g.all)} ms over all shards, ${Math.round(g.worst)} ms on shard ${g.shard}`,
      );
    }
    console.log(
      `[grow-shrink] forced removal refused while n2 still looked up: ${refusals.length}×; ` +
        `writes: ${writers.summary()}; reads: ${readers.summary()}`,
    );

    expect(writers.unexpected).toEqual([]);
    expect(writers.unfinished).toEqual([]);
    expect(readers.unexpected).toEqual([]);
    expect(readers.stale).toEqual([]);
    expect([...last.keys()].sort()).toEqual([...keys].sort());
    expect(replays).toEqual([]);
    expect(twice).toEqual([]);
    expect(report).toEqual({ checked: keys.length, wrong: [] });
    expect(
      gaps.filter((g) => g.worst > gapMaxMs[g.name]).map((g) => `${g.name}: ${Math.round(g.worst)} ms`),
    ).toEqual([]);
  }, 120_000);
});
