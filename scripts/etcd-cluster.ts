/**
 * A local three-member etcd cluster for side-by-side benchmarks: Debian's etcd-server (installed
 * with apt when missing), loopback ports of its own, fresh data directories, default durability.
 * Members are started, signalled and stopped by PID; a member killed or stopped can be started
 * again on its data directory (the failover benchmark does).
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../harness/index.js';

export interface EtcdCluster {
  readonly endpoints: readonly string[];
  /** The members' PIDs, in member order (of the processes running now). */
  readonly pids: readonly number[];
  readonly version: string;
  /** Sends `signal` to member `i` by PID; resolves once it exited if the signal ends it. */
  signal(i: number, signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): Promise<void>;
  /** Starts member `i` again on its data directory. */
  restart(i: number): void;
  stop(): Promise<void>;
}

export function ensureEtcd(): string {
  if (!existsSync('/usr/bin/etcd')) {
    process.stdout.write('etcd not found; installing Debian etcd-server with apt...\n');
    execFileSync('apt-get', ['install', '-y', 'etcd-server'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  return execFileSync('/usr/bin/etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? 'etcd';
}

export async function startEtcd(dir: string, basePort = 23790): Promise<EtcdCluster> {
  const version = ensureEtcd();
  const members = [0, 1, 2].map((i) => ({
    name: `e${i + 1}`,
    client: `http://127.0.0.1:${basePort + i * 10}`,
    peer: `http://127.0.0.1:${basePort + i * 10 + 1}`,
  }));
  const initial = members.map((m) => `${m.name}=${m.peer}`).join(',');
  const spawnMember = (m: (typeof members)[number]): ChildProcess => {
    const data = join(dir, m.name);
    mkdirSync(data, { recursive: true });
    const log = openSync(join(dir, `${m.name}.log`), 'a');
    return spawn(
      '/usr/bin/etcd',
      [
        '--name',
        m.name,
        '--data-dir',
        data,
        '--listen-client-urls',
        m.client,
        '--advertise-client-urls',
        m.client,
        '--listen-peer-urls',
        m.peer,
        '--initial-advertise-peer-urls',
        m.peer,
        '--initial-cluster',
        initial,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        'raftkv-bench',
      ],
      {
        stdio: ['ignore', log, log],
        env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' },
      },
    );
  };
  const children: ChildProcess[] = members.map(spawnMember);
  const exited = (c: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
    });
  const endpoints = members.map((m) => m.client);
  for (const e of endpoints) {
    await waitFor(
      async () => {
        const res = await fetch(`${e}/health`, { signal: AbortSignal.timeout(1_000) });
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      },
      { timeoutMs: 30_000, intervalMs: 200, what: `etcd member ${e} to be healthy (logs: ${dir}/*.log)` },
    );
  }
  return {
    endpoints,
    get pids() {
      return children.map((c) => c.pid!);
    },
    version,
    async signal(i, signal) {
      const c = children[i]!;
      c.kill(signal);
      if (signal === 'SIGKILL') await exited(c);
    },
    restart(i) {
      children[i] = spawnMember(members[i]!);
    },
    async stop() {
      await Promise.all(
        children.map((c) => {
          if (c.signalCode === null && c.exitCode === null) {
            c.kill('SIGCONT');
            c.kill('SIGTERM');
          }
          return exited(c);
        }),
      );
    },
  };
}
