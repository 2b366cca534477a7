/**
 * What a person or a scraper sees of one node through the API (fastify inject, a one-node
 * cluster on the in-memory store): /metrics names the proposal, fsync, leader-change, snapshot
 * and drive-loop series; /v1/status carries the PID, rates and leader changes; /ui is the
 * dashboard page; /v1/ui/state shows the node up and a peer that does not answer down; refused
 * requests are logged once per kind and second.
 */

import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../../src/api/build-api.js';
import type { ClusterView } from '../../../src/api/cluster-view.js';
import { parseClusterConfig } from '../../../src/config/cluster-file.js';
import { type NodeStatus, RaftKVNode } from '../../../src/node/index.js';
import { MemoryStore } from '../../../src/storage/memory-store.js';

const lines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l));
    done();
  },
});

describe('observability of one node', () => {
  let node: RaftKVNode;
  let app: FastifyInstance;

  beforeAll(async () => {
    const config = parseClusterConfig({
      // n2 is in the file but never started: its API port is closed.
      nodes: [
        { id: 'n1', api: 'http://127.0.0.1:1', peer: 'http://127.0.0.1:2' },
        { id: 'n2', api: 'http://127.0.0.1:3', peer: 'http://127.0.0.1:4' },
      ],
      shards: 2,
      replicas: 1,
      tickMs: 5,
    });
    const log = pino({ base: { node: 'n1' } }, sink);
    node = await RaftKVNode.start({
      config,
      id: 'n1',
      store: new MemoryStore(),
      transport: () => ({ send() {}, async close() {} }),
      log,
      onFatal: (err) => {
        throw err;
      },
    });
    app = buildApi({ node, log });
    const deadline = Date.now() + 5_000;
    while (!node.ready() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  });

  afterAll(async () => {
    await app.close();
    await node.shutdown();
  });

  it('exports the node metrics on /metrics next to the API metrics', async () => {
    const shard = node.groups.keys().next().value!;
    for (let i = 0; ; i++) {
      const key = `m${i}`;
      if (node.shardOf(key) !== shard) continue;
      expect((await app.inject({ method: 'PUT', url: `/v1/kv/${key}`, payload: 'x' })).statusCode).toBe(200);
      break;
    }
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const names = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`));
    for (const expected of [
      'raftkv_proposals_total counter',
      'raftkv_proposal_commit_seconds histogram',
      'raftkv_fsync_seconds histogram',
      'raftkv_leader_changes_total counter',
      'raftkv_failover_window_seconds histogram',
      'raftkv_snapshots_total counter',
      'raftkv_snapshot_bytes histogram',
      'raftkv_drive_loop_turns_total counter',
      'raftkv_drive_loop_syncs_total counter',
      'raftkv_forwarded_requests_total counter',
      'raftkv_http_request_duration_seconds histogram',
      'raftkv_raft_term gauge',
      'raftkv_raft_applied_index gauge',
      'raftkv_leases gauge',
      'raftkv_leases_expired_total counter',
    ]) {
      expect(names).toContain(expected);
    }
    expect(text).toMatch(
      new RegExp(`^raftkv_proposals_total\\{shard="${shard}",outcome="applied"\\} 1$`, 'm'),
    );
    expect(text).toMatch(new RegExp(`^raftkv_proposal_commit_seconds_count\\{shard="${shard}"\\} 1$`, 'm'));
    expect(text).toMatch(/^raftkv_leader_changes_total\{shard="\d",kind="initial"\} 1$/m);
    expect(Number(/^raftkv_fsync_seconds_count (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(new RegExp(`^raftkv_leases\\{shard="${shard}"\\} 0$`, 'm'));
  });

  it('says in /v1/status which process it is and what it observed', async () => {
    const s = (await app.inject({ method: 'GET', url: '/v1/status' })).json<NodeStatus>();
    expect(s.pid).toBe(process.pid);
    expect(s.groups.map((g) => [g.role, g.followers, g.leaderChanges.map((c) => [c.kind, c.to])])).toEqual([
      ['leader', [], [['initial', 'n1']]],
    ]);
  });

  it('serves the dashboard page and the cluster view with the silent peer down', async () => {
    const page = await app.inject({ method: 'GET', url: '/ui' });
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('<title>raftkv · cluster</title>');
    expect(page.body).not.toMatch(/(src|href)="https?:/);
    const v = (await app.inject({ method: 'GET', url: '/v1/ui/state' })).json<ClusterView>();
    expect(v.nodes.map((n) => [n.id, n.up, n.error])).toEqual([
      ['n1', true, null],
      ['n2', false, 'ECONNREFUSED'],
    ]);
    expect(v.shards.map((s) => [s.shard, s.leader])).toEqual([
      [0, 'n1'],
      [1, null],
    ]);
  });

  it('logs refused requests once per kind and second, counting the rest', async () => {
    lines.length = 0;
    for (let i = 0; i < 5; i++) await app.inject({ method: 'GET', url: '/v1/kv/a?consistency=maybe' });
    const refused = lines.filter((l) => l.msg === 'request refused');
    expect(refused).toEqual([
      expect.objectContaining({
        node: 'n1',
        port: 'api',
        status: 400,
        code: 'bad_request',
        route: '/v1/kv/*',
        message: 'consistency must be "linearizable" or "stale"',
      }),
    ]);
  });
});
