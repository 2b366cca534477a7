/**
 * The cluster file a TestCluster writes (README "The cluster file"): its nodes, where each one's
 * process runs, and the optional tuning fields, typed exactly as src/config knows them.
 */

import { writeFileSync } from 'node:fs';
import type { clusterDefaults } from '../src/config/cluster-file.js';
import { freePorts } from './ports.js';

/** The optional tuning fields of the cluster file (README "The cluster file"), exactly src/config's. */
export type Tuning = {
  readonly [K in keyof typeof clusterDefaults]?: (typeof clusterDefaults)[K] extends boolean
    ? boolean
    : number;
};

/** One node: its cluster file entry, and where its process runs. */
export interface NodeSpec {
  readonly id: string;
  readonly api: string;
  readonly peer: string;
  /** The network namespace the process runs in (`ip netns exec`); the caller's by default. */
  readonly netns?: string;
  /** Passed as `--bind`: the address the node listens on. */
  readonly bind?: string;
}

/** Writes the cluster file at `path`; `clusterId`, `tuning` and `security` only when given. */
export function writeClusterFile(
  path: string,
  o: {
    readonly nodes: readonly NodeSpec[];
    readonly shards: number;
    readonly replicas: number;
    readonly tuning?: Tuning | undefined;
    readonly security?: Record<string, unknown> | undefined;
    /** The cluster file's clusterId; by default none (the digest of ids, shards and replicas). */
    readonly clusterId?: string | undefined;
  },
): void {
  const file = {
    ...(o.clusterId === undefined ? {} : { clusterId: o.clusterId }),
    nodes: o.nodes.map(({ id, api, peer }) => ({ id, api, peer })),
    shards: o.shards,
    replicas: o.replicas,
    ...o.tuning,
    ...(o.security ? { security: o.security } : {}),
  };
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
}

/** `count` nodes n1, n2, ... on free loopback ports. */
export async function loopbackSpecs(count: number, scheme: 'http' | 'https'): Promise<NodeSpec[]> {
  const ports = await freePorts(2 * count);
  return Array.from({ length: count }, (_, i) => ({
    id: `n${i + 1}`,
    api: `${scheme}://127.0.0.1:${ports[2 * i]}`,
    peer: `${scheme}://127.0.0.1:${ports[2 * i + 1]}`,
  }));
}
