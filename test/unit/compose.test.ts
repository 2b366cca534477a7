/**
 * docker-compose.yml, the Dockerfile and cluster/compose.json describe one cluster three times;
 * these checks keep them from drifting apart (no Docker needed). `npm run test:compose` runs
 * the real thing.
 */

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type ClusterConfig, parseClusterConfig } from '../../src/config/cluster-file.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(join(repo, path), 'utf8');

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  pull_policy?: string;
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | { host_ip?: string; published?: string | number; target?: number })[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: unknown;
  networks?: Record<string, { ipv4_address?: string } | null> | string[];
  stop_grace_period?: string;
  profiles?: string[];
  command?: string | string[];
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as ComposeFile;
const services = Object.entries(compose.services);
/** The nodes of the cluster file (no profile), and those that join later (profile "grow"). */
const fileServices = services.filter(([, s]) => s.profiles === undefined);
const growServices = services.filter(([, s]) => s.profiles?.includes('grow') === true);

/** One instruction per line of the Dockerfile (continuations joined), comments dropped. */
function dockerfileStages(text: string): { from: string; instructions: [string, string][] }[] {
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stages: { from: string; instructions: [string, string][] }[] = [];
  for (const line of lines) {
    const [, op = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (op.toUpperCase() === 'FROM') stages.push({ from: rest, instructions: [] });
    else stages.at(-1)?.instructions.push([op.toUpperCase(), rest]);
  }
  return stages;
}

const stages = dockerfileStages(read('Dockerfile'));
const runtime = stages.at(-1)!;
const ops = (op: string) => runtime.instructions.filter(([o]) => o === op).map(([, rest]) => rest);

/** The repository file that lands at `path` in the runtime image through its COPY lines, if any. */
function sourceInImage(path: string): string | null {
  let workdir = '/';
  let found: string | null = null;
  for (const [op, rest] of runtime.instructions) {
    if (op === 'WORKDIR') workdir = posix.resolve(workdir, rest);
    if (op !== 'COPY' || rest.startsWith('--from')) continue;
    const args = rest.split(/\s+/).filter((a) => !a.startsWith('--'));
    const dest = posix.resolve(workdir, args.at(-1)!);
    for (const src of args.slice(0, -1)) {
      const local = join(repo, src);
      if (!existsSync(local)) continue;
      if (statSync(local).isDirectory()) {
        // `COPY cluster ./cluster`: the directory's content lands in dest.
        if (path.startsWith(`${dest}/`)) found = join(src, posix.relative(dest, path));
      } else if (path === dest || path === posix.join(dest, posix.basename(src))) {
        found = src;
      }
    }
  }
  return found !== null && existsSync(join(repo, found)) ? found : null;
}

/** A value as compose gives it when the variable it names is unset: `${VAR:-default}` is the default. */
const unsetDefault = (v: string) => v.replace(/^\$\{[A-Z_]+:-(.*)\}$/, '$1');

function env(s: Service): Record<string, string> {
  const e = s.environment ?? {};
  if (Array.isArray(e))
    return Object.fromEntries(
      e.map((kv) => [kv.split('=')[0]!, unsetDefault(kv.slice(kv.indexOf('=') + 1))]),
    );
  return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, unsetDefault(String(v ?? ''))]));
}

function ports(s: Service): { hostIp: string; published: number; target: number }[] {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'string') {
      const parts = p.replace(/\/tcp$/, '').split(':');
      const target = Number(parts.pop());
      const published = Number(parts.pop());
      return { hostIp: parts.join(':'), published, target };
    }
    return { hostIp: p.host_ip ?? '', published: Number(p.published), target: Number(p.target) };
  });
}

function volumeMounts(s: Service): { source: string; target: string; named: boolean }[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v === 'string') {
      const [source = '', target = ''] = v.split(':');
      return { source, target, named: !/^[./~]/.test(source) };
    }
    return { source: v.source ?? '', target: v.target ?? '', named: v.type === 'volume' };
  });
}

const seconds = (d: string) => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(d);
  if (m === null) throw new Error(`unexpected duration ${d}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60 }[m[2] as 'ms' | 's' | 'm'];
};

describe('docker-compose.yml, Dockerfile and cluster file agree', () => {
  const configPaths = new Set(services.map(([, s]) => env(s).RAFTKV_CONFIG));

  it('every service reads one cluster file, and the image carries it from cluster/', () => {
    expect(configPaths.size).toBe(1);
    const [inImage] = [...configPaths];
    expect(inImage).toMatch(/^\//);
    const source = sourceInImage(inImage!);
    expect(source, `no COPY in the runtime stage puts a repository file at ${inImage}`).not.toBeNull();
    expect(relative(repo, join(repo, source!))).toBe(join('cluster', 'compose.json'));
  });

  const config: ClusterConfig = parseClusterConfig(
    JSON.parse(read('cluster/compose.json')),
    'cluster/compose.json',
  );

  it('has a second cluster file for a restored cluster: the same nodes and settings, its own cluster id', () => {
    const raw = (s: Service) => (s.environment as Record<string, unknown> | undefined)?.RAFTKV_CONFIG;
    expect(new Set(services.map(([, s]) => raw(s)))).toEqual(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: compose's interpolation, not a template.
      new Set(['${RAFTKV_CLUSTER_FILE:-/app/cluster/compose.json}']),
    );
    const restored = parseClusterConfig(
      JSON.parse(read('cluster/compose-restored.json')),
      'cluster/compose-restored.json',
    );
    expect(restored.clusterId).not.toBe(config.clusterId);
    expect({ ...restored, clusterId: config.clusterId }).toEqual(config);
  });

  it('has one service per node of the cluster file, named as the host of its URLs', () => {
    expect(fileServices.map(([name]) => name).sort()).toEqual(
      config.nodes.map((n) => new URL(n.api).hostname).sort(),
    );
    for (const n of config.nodes) expect(new URL(n.peer).hostname).toBe(new URL(n.api).hostname);
  });

  it.each(config.nodes.map((n) => [n.id, n] as const))(
    'node %s: its service has its id, listens on all interfaces, publishes its API port on 127.0.0.1 only',
    (id, n) => {
      const api = new URL(n.api);
      const s = compose.services[api.hostname]!;
      const e = env(s);
      expect(e.RAFTKV_ID).toBe(id);
      expect(e.RAFTKV_BIND).toBe('0.0.0.0');
      expect(ports(s)).toEqual([
        { hostIp: '127.0.0.1', published: Number(api.port), target: Number(api.port) },
      ]);
    },
  );

  it('publishes the API on 127.0.0.1:7001-7003', () => {
    expect(fileServices.flatMap(([, s]) => ports(s).map((p) => p.published)).sort()).toEqual([
      7001, 7002, 7003,
    ]);
  });

  it('profile "grow": node4 and node5 join the file nodes by their API URLs, on 127.0.0.1:7004-7005', () => {
    expect(growServices.map(([name]) => name).sort()).toEqual(['node4', 'node5']);
    expect(services).toHaveLength(fileServices.length + growServices.length);
    const members = config.nodes.map((n) => n.api).join(',');
    for (const [name, s] of growServices) {
      const e = env(s);
      const api = new URL(e.RAFTKV_API!);
      expect(api.hostname, name).toBe(name);
      expect(new URL(e.RAFTKV_PEER!).hostname, name).toBe(name);
      expect(
        config.nodes.some((n) => n.id === e.RAFTKV_ID),
        name,
      ).toBe(false);
      expect(e.RAFTKV_BIND).toBe('0.0.0.0');
      const command = Array.isArray(s.command) ? s.command : (s.command ?? '').split(/\s+/);
      expect(command).toEqual(['serve', '--join', members]);
      expect(ports(s)).toEqual([
        { hostIp: '127.0.0.1', published: Number(api.port), target: Number(api.port) },
      ]);
      expect(String(s.healthcheck?.test)).toContain(`127.0.0.1:${api.port}/readyz`);
    }
  });

  it('gives every node its own named volume, mounted where RAFTKV_DATA points', () => {
    const sources = new Set<string>();
    for (const [name, s] of services) {
      const data = env(s).RAFTKV_DATA;
      expect(data, name).toMatch(/^\//);
      const mount = volumeMounts(s).find((m) => m.target === data);
      expect(mount, `${name} mounts nothing at ${data}`).toBeDefined();
      expect(mount!.named, name).toBe(true);
      expect(Object.keys(compose.volumes ?? {})).toContain(mount!.source);
      sources.add(mount!.source);
      // The image creates the directory owned by its user, so a fresh volume is writable.
      expect(ops('RUN').join('\n')).toMatch(new RegExp(`chown node(:node)? ${data}\\b`));
    }
    expect(sources.size).toBe(services.length);
  });

  it('authenticates peers with a secret the first node creates on a volume all nodes share', () => {
    const file = config.security.secretFile;
    expect(config.security.createSecret).toBe(true);
    expect(file).toMatch(/^\//);
    const dir = posix.dirname(file!);
    const shared = new Set<string>();
    for (const [name, s] of services) {
      const mount = volumeMounts(s).find((m) => m.target === dir);
      expect(mount?.named, `${name} mounts no named volume at ${dir}`).toBe(true);
      expect(env(s).RAFTKV_CLUSTER_SECRET, name).toBeUndefined();
      shared.add(mount!.source);
    }
    expect(shared.size).toBe(1);
    expect(ops('RUN').join('\n')).toMatch(new RegExp(`chown node(:node)? .*${dir}\\b`));
  });

  it('checks each node on /readyz of its own API port', () => {
    for (const n of config.nodes) {
      const api = new URL(n.api);
      const test = compose.services[api.hostname]!.healthcheck?.test;
      expect(Array.isArray(test) ? test[0] : test).toMatch(/^CMD/);
      expect(String(test)).toContain(`127.0.0.1:${api.port}/readyz`);
    }
    expect(ops('HEALTHCHECK').join('')).toContain('/readyz');
  });

  it('builds one image that every service runs, never pulling it', () => {
    const images = new Set(services.map(([, s]) => s.image));
    expect(images.size).toBe(1);
    expect([...images][0]).toMatch(/^raftkv:/);
    const builders = services.filter(([, s]) => s.build !== undefined);
    expect(builders).toHaveLength(1);
    const build = builders[0]![1].build!;
    const context = typeof build === 'string' ? build : (build.context ?? '.');
    const dockerfile = typeof build === 'string' ? 'Dockerfile' : (build.dockerfile ?? 'Dockerfile');
    expect(existsSync(join(repo, context, dockerfile))).toBe(true);
    for (const [, s] of services) expect(s.pull_policy).toBe('never');
  });

  it('takes identity from the cluster file: no fixed addresses, no start order between nodes', () => {
    for (const [name, s] of services) {
      expect(s.depends_on, name).toBeUndefined();
      const nets = s.networks ?? {};
      if (!Array.isArray(nets)) {
        for (const net of Object.values(nets)) expect(net?.ipv4_address, name).toBeUndefined();
      }
    }
  });

  it('leaves a stopping leader time to hand over before SIGKILL', () => {
    for (const [name, s] of services) {
      expect(seconds(s.stop_grace_period ?? '10s'), name).toBeGreaterThanOrEqual(5);
    }
  });

  it('the image: built from the lock file, run as node on node:20-slim with production dependencies only', () => {
    for (const s of stages) expect(s.from).toMatch(/^node:20-slim\b/);
    const buildRuns = stages[0]!.instructions.filter(([o]) => o === 'RUN').map(([, r]) => r);
    expect(buildRuns.some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(buildRuns.some((r) => /\bnpm run build\b/.test(r))).toBe(true);
    expect(ops('RUN').some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true);
    expect(ops('USER')).toEqual(['node']);
    expect(ops('ENTRYPOINT')).toEqual(['["node", "dist/cli.js"]']);
    expect(ops('CMD')).toEqual(['["serve"]']);
  });
});
