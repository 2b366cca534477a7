/**
 * Starting and stopping a local cluster of real `raftkv serve` processes from a cluster file:
 * used by `npm start` and by the integration tests. Every process is tracked and stopped by its
 * PID; nothing is killed by name.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const cliPath = join(repoRoot, 'dist', 'cli.js');

/**
 * The cluster secret of every node this process starts whose cluster file names no secret file,
 * unless the caller's environment or `env` names one: nodes started together authenticate each
 * other with it.
 */
export const localClusterSecret = process.env.RAFTKV_CLUSTER_SECRET ?? randomBytes(32).toString('hex');

export interface NodeProcess {
  readonly id: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
}

/**
 * Starts `raftkv serve` for one node; stdout/stderr go to `onOutput`. With `netns`, the node runs
 * inside that network namespace (`ip netns exec` replaces itself with node, so the child's PID is
 * still the node's); `bind` is passed as `--bind`; `cli` runs another copy of the build.
 */
export function startNode(
  o: {
    configPath: string;
    id: string;
    dataDir: string;
    env?: Record<string, string>;
    netns?: string;
    bind?: string;
    /** The cli.js to run (default dist/cli.js), e.g. a private copy of the build. */
    cli?: string;
  },
  onOutput: (id: string, chunk: Buffer, stream: 'stdout' | 'stderr') => void,
): NodeProcess {
  mkdirSync(o.dataDir, { recursive: true });
  const serve = [o.cli ?? cliPath, 'serve', '--config', o.configPath, '--id', o.id, '--data', o.dataDir];
  if (o.bind !== undefined) serve.push('--bind', o.bind);
  const [command, args]: [string, string[]] =
    o.netns === undefined
      ? [process.execPath, serve]
      : ['ip', ['netns', 'exec', o.netns, process.execPath, ...serve]];
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...(namesSecretFile(o.configPath) ? {} : { RAFTKV_CLUSTER_SECRET: localClusterSecret }),
      ...o.env,
    },
  });
  child.stdout?.on('data', (c: Buffer) => onOutput(o.id, c, 'stdout'));
  child.stderr?.on('data', (c: Buffer) => onOutput(o.id, c, 'stderr'));
  const exited = new Promise<number | null>((res) =>
    child.once('exit', (code, signal) => res(code ?? (signal ? -1 : null))),
  );
  return { id: o.id, child, exited };
}

/** Sends `signal` to the node's PID and waits (bounded) for it to exit; SIGKILL after the bound. */
export async function stopNode(
  p: NodeProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  waitMs = 10_000,
): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
  p.child.kill(signal);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), waitMs);
  try {
    return await p.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Whether the cluster file at `path` names a secret file (then its nodes read the secret there). */
function namesSecretFile(path: string): boolean {
  try {
    const file = JSON.parse(readFileSync(path, 'utf8')) as { security?: { secretFile?: unknown } };
    return typeof file.security?.secretFile === 'string';
  } catch {
    return false;
  }
}
