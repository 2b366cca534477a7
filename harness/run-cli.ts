/** One run of the command line to its exit, bounded: start-up refusals, client commands. */

import { spawn } from 'node:child_process';
import { localClusterSecret } from './node-process.js';
import { cliPath, repoRoot } from './paths.js';

/** Runs `node dist/cli.js ...args` to its exit (SIGKILL after `timeoutMs`) and returns what it printed. */
export async function runCli(
  args: readonly string[],
  timeoutMs = 15_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cliPath, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    // `serve` needs the cluster secret of the nodes this process starts (node-process.ts).
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
