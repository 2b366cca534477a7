/**
 * Prometheus metrics of one node (GET /metrics): request counts and latencies by route and
 * status, and per group its role, term and indexes, read at scrape time; merged with the node's
 * own registry (NodeMetrics).
 */

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RaftKVNode } from '../node/index.js';

export class ApiMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly latency: Histogram<'method' | 'route'>;
  readonly forwarded: Counter;

  constructor(node: RaftKVNode) {
    this.requests = new Counter({
      name: 'raftkv_http_requests_total',
      help: 'Client API requests by method, route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'raftkv_http_request_duration_seconds',
      help: 'Client API request latency',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers: [this.registry],
    });
    this.forwarded = new Counter({
      name: 'raftkv_forwarded_requests_total',
      help: 'Client requests this node relayed to another node (the shard leader), by a call on the peer stream or over HTTP',
      registers: [this.registry],
    });
    const groupGauge = (
      name: string,
      help: string,
      read: (s: ReturnType<RaftKVNode['status']>['groups'][number]) => number,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['shard'],
        registers: [this.registry],
        collect() {
          for (const g of node.status().groups) this.set({ shard: String(g.shard) }, read(g));
        },
      });
    groupGauge('raftkv_raft_is_leader', '1 if this node leads the shard group', (g) =>
      g.role === 'leader' ? 1 : 0,
    );
    groupGauge('raftkv_raft_term', 'Current Raft term of the shard group', (g) => g.term);
    groupGauge('raftkv_raft_commit_index', 'Commit index of the shard group', (g) => g.commit);
    groupGauge('raftkv_raft_applied_index', 'Applied index of the shard group', (g) => g.applied);
    groupGauge('raftkv_raft_snapshot_index', 'Index of the latest snapshot', (g) => g.snapshotIndex);
    groupGauge('raftkv_raft_has_leader', '1 if the shard group knows a leader', (g) =>
      g.leader === null ? 0 : 1,
    );
    // The node's own metrics (proposals, fsyncs, leader changes, snapshots) on the same page.
    this.registry = Registry.merge([this.registry, node.metrics.registry]);
  }
}
