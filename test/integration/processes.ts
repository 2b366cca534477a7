/**
 * Processes and ports outside a cluster: free loopback ports for a cluster file, and one run of
 * the CLI to its exit (start-up refusals).
 */

import { spawn } from 'node:child_process';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { cliPath, localClusterSecret, repoRoot } from '../../scripts/local-cluster.js';

/** Ports that are free now, found by listening on port 0; all held open until every one is known. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/** Runs `node dist/cli.js ...args` to its exit (bounded) and returns what it printed. */
export async function runCli(
  args: readonly string[],
  timeoutMs = 15_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cliPath, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    // `serve` needs the cluster secret of the nodes this process starts (local-cluster.ts).
    env: { ...process.env, RAFTKV_CLUSTER_SECRET: localClusterSecret },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}
