/**
 * The cluster file (README's API "Cluster file"): parsing, validation with one clear message per
 * problem, and the documented defaults of every optional tuning field. Every node of a cluster
 * reads the same file; which node it is comes from --id.
 */

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { defaultRaftTuning } from '../raft/types.js';

const nodeIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const httpUrl = z
  .string()
  .refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol) && new URL(s).port !== '', {
    message: 'must be an http(s) URL with an explicit port, e.g. http://127.0.0.1:7001',
  });

const nodeSchema = z.strictObject({
  id: z.string().regex(nodeIdPattern, 'must be 1-64 letters, digits, ".", "_" or "-"'),
  api: httpUrl,
  peer: httpUrl,
});

/**
 * Optional fields and their defaults (README's cluster-file table is checked against these). The
 * election and heartbeat ticks are the Raft core's own defaults.
 */
export const clusterDefaults = {
  tickMs: 40,
  electionTicks: defaultRaftTuning.electionTicks,
  heartbeatTicks: defaultRaftTuning.heartbeatTicks,
  snapshotEntries: 10_000,
  valueBytesMax: 1024 * 1024,
  requestTimeoutMs: 5_000,
  requestsInFlightMax: 4_096,
  eventLoopDelayMaxMs: 500,
  rebalance: true,
  rebalanceMovesMax: 2,
  nodeDownReplaceMs: 300_000,
  watchHistoryEvents: 100_000,
  watchHistoryMs: 600_000,
} as const;

/**
 * The optional `security` object: where the cluster secret, the API tokens and the TLS files are.
 * Paths are relative to the cluster file; `{id}` in `cert` and `key` is this node's id.
 */
const securitySchema = z.strictObject({
  secretFile: z.string().min(1).optional(),
  /**
   * Create `secretFile` with a random secret when it does not exist: for nodes that share one
   * directory for it (the compose setup's shared volume), so the first node to start makes it.
   */
  createSecret: z.boolean().default(false),
  tokensFile: z.string().min(1).optional(),
  /** Routes that stay open although tokens are on: "metrics" (/metrics) and "ui" (/v1/ui/state). */
  openRoutes: z.array(z.enum(['metrics', 'ui'])).default([]),
  tls: z
    .strictObject({
      cert: z.string().min(1),
      key: z.string().min(1),
      /** With a CA, peers must present a certificate it signed (mutual TLS on the peer port). */
      ca: z.string().min(1).optional(),
    })
    .optional(),
});

const clusterSchema = z
  .strictObject({
    clusterId: z.string().regex(nodeIdPattern, 'must be 1-64 letters, digits, ".", "_" or "-"').optional(),
    nodes: z.array(nodeSchema).min(1, 'must name at least one node'),
    shards: z.number().int().min(1).max(1024),
    replicas: z.number().int().min(1).max(9),
    tickMs: z.number().int().min(1).max(10_000).default(clusterDefaults.tickMs),
    electionTicks: z.number().int().min(2).max(1_000).default(clusterDefaults.electionTicks),
    heartbeatTicks: z.number().int().min(1).max(1_000).default(clusterDefaults.heartbeatTicks),
    snapshotEntries: z.number().int().min(2).default(clusterDefaults.snapshotEntries),
    valueBytesMax: z
      .number()
      .int()
      .min(1)
      .max(64 * 1024 * 1024)
      .default(clusterDefaults.valueBytesMax),
    requestTimeoutMs: z.number().int().min(100).max(600_000).default(clusterDefaults.requestTimeoutMs),
    requestsInFlightMax: z.number().int().min(1).max(1_000_000).default(clusterDefaults.requestsInFlightMax),
    eventLoopDelayMaxMs: z.number().int().min(0).max(60_000).default(clusterDefaults.eventLoopDelayMaxMs),
    /** Whether the rebalancer moves shards' replicas (false: only by hand, through the member routes). */
    rebalance: z.boolean().default(clusterDefaults.rebalance),
    /** The most replica moves (and other membership steps) the rebalancer has under way at once. */
    rebalanceMovesMax: z.number().int().min(1).max(64).default(clusterDefaults.rebalanceMovesMax),
    /** A node down this long has its replicas re-created on other nodes, where there is room. */
    nodeDownReplaceMs: z.number().int().min(1_000).default(clusterDefaults.nodeDownReplaceMs),
    /** Changes each shard replica keeps for watchers to resume from: at most this many … */
    watchHistoryEvents: z.number().int().min(1).max(10_000_000).default(clusterDefaults.watchHistoryEvents),
    /** … and none older than this. */
    watchHistoryMs: z.number().int().min(1_000).max(86_400_000).default(clusterDefaults.watchHistoryMs),
    security: securitySchema.default({ openRoutes: [], createSecret: false }),
  })
  .superRefine((c, ctx) => {
    const dup = (xs: string[]) => xs.find((x, i) => xs.indexOf(x) !== i);
    const id = dup(c.nodes.map((n) => n.id));
    if (id !== undefined)
      ctx.addIssue({ code: 'custom', path: ['nodes'], message: `node id "${id}" appears twice` });
    const url = dup(c.nodes.flatMap((n) => [hostPort(n.api), hostPort(n.peer)]));
    if (url !== undefined)
      ctx.addIssue({ code: 'custom', path: ['nodes'], message: `address ${url} is used twice` });
    if (c.replicas > c.nodes.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['replicas'],
        message: `is ${c.replicas} but the file names only ${c.nodes.length} node(s)`,
      });
    }
    if (c.heartbeatTicks >= c.electionTicks) {
      ctx.addIssue({ code: 'custom', path: ['heartbeatTicks'], message: 'must be below electionTicks' });
    }
    for (const port of ['api', 'peer'] as const) {
      const schemes = new Set(c.nodes.map((n) => new URL(n[port]).protocol));
      if (schemes.size > 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['nodes'],
          message: `every ${port} URL must use the same scheme`,
        });
      } else if (schemes.has('https:') && c.security.tls === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['security', 'tls'],
          message: `must name cert and key files: the ${port} URLs are https`,
        });
      }
    }
    if (c.security.createSecret && c.security.secretFile === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['security', 'createSecret'],
        message: 'needs a secretFile to create',
      });
    }
    if (
      c.security.tls !== undefined &&
      c.nodes.every((n) => !n.api.startsWith('https:') && !n.peer.startsWith('https:'))
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['security', 'tls'],
        message: 'is set but no api or peer URL is https',
      });
    }
  });

const hostPort = (u: string) => new URL(u).host;

export type NodeSpec = z.infer<typeof nodeSchema>;

/** A validated cluster file with every default filled in. */
export type ClusterConfig = Omit<z.infer<typeof clusterSchema>, 'clusterId'> & { readonly clusterId: string };

/** A cluster file that cannot be used; the message is one sentence a person can act on. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Validates a parsed cluster file. The cluster id defaults to a digest of node ids, shards and replicas. */
export function parseClusterConfig(raw: unknown, source = 'cluster file'): ClusterConfig {
  const parsed = clusterSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? ` at "${issue.path.join('.')}"` : '';
    throw new ConfigError(`${source} is invalid${where}: ${issue.message}`);
  }
  const c = parsed.data;
  const clusterId =
    c.clusterId ??
    createHash('sha256')
      .update(JSON.stringify([c.nodes.map((n) => n.id), c.shards, c.replicas]))
      .digest('hex')
      .slice(0, 16);
  return { ...c, clusterId };
}

/** Reads and validates a cluster file from disk. */
export function loadClusterConfig(path: string): ClusterConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read cluster file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`cluster file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseClusterConfig(raw, `cluster file ${path}`);
}

/** This node's entry, or a ConfigError when the file does not name it. */
export function nodeSpec(config: ClusterConfig, id: string): NodeSpec {
  const spec = config.nodes.find((n) => n.id === id);
  if (spec === undefined) {
    throw new ConfigError(
      `node id "${id}" is not in the cluster file (it names ${config.nodes.map((n) => n.id).join(', ')})`,
    );
  }
  return spec;
}
