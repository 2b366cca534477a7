/**
 * One `raftkv serve` process: spawned with its output handed to the caller, signalled and awaited
 * by its PID, never by name. The cluster verbs (test-cluster.ts), `npm start` and the benches all
 * start their nodes here.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { cliPath } from './paths.js';

/**
 * The cluster secret of every node this process starts whose cluster file names no secret file,
 * unless the caller's environment or `env` names one: nodes started together authenticate each
 * other with it.
 */
export const localClusterSecret = process.env.RAFTKV_CLUSTER_SECRET ?? randomBytes(32).toString('hex');

export interface NodeProcess {
  readonly id: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code once the process is gone (-1 when a signal ended it). */
  readonly exited: Promise<number | null>;
}

/** `serve --join`: the API URLs of members to ask, and the new node's own URLs. */
export interface JoinSpec {
  readonly urls: readonly string[];
  readonly api: string;
  readonly peer: string;
}

/**
 * Starts `raftkv serve` for one node; stdout/stderr go to `onOutput`. With `join`, the node joins
 * a running cluster (`serve --join`, no cluster file: the cluster secret comes from the
 * environment) instead of starting from `configPath`. With `netns`, the node runs inside that
 * network namespace (`ip netns exec` replaces itself with node, so the child's PID is still the
 * node's); `bind` is passed as `--bind`; `cli` runs another copy of the build.
 */
export function startNode(
  o: {
    /** The cluster file; not given with `join`. */
    configPath?: string;
    join?: JoinSpec;
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
  if ((o.configPath === undefined) === (o.join === undefined))
    throw new Error(`node ${o.id}: give either a cluster file or a cluster to join`);
  const from =
    o.join === undefined
      ? ['--config', o.configPath!]
      : ['--join', o.join.urls.join(','), '--api', o.join.api, '--peer', o.join.peer];
  const serve = [o.cli ?? cliPath, 'serve', ...from, '--id', o.id, '--data', o.dataDir];
  if (o.bind !== undefined) serve.push('--bind', o.bind);
  const [command, args]: [string, string[]] =
    o.netns === undefined
      ? [process.execPath, serve]
      : ['ip', ['netns', 'exec', o.netns, process.execPath, ...serve]];
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...(o.configPath !== undefined && namesSecretFile(o.configPath)
        ? {}
        : { RAFTKV_CLUSTER_SECRET: localClusterSecret }),
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

/** Whether the process still runs (paused or not). */
export function isAlive(p: NodeProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

/**
 * Sends `signal` to the node's PID and waits (bounded) for it to exit; SIGKILL after the bound.
 * Resolves with the exit code (-1 when a signal ended it); at once if the process is gone.
 */
export async function stopNode(
  p: NodeProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  waitMs = 10_000,
): Promise<number | null> {
  if (!isAlive(p)) return p.child.exitCode;
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
