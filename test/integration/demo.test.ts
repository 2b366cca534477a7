/**
 * The README's walkthrough, tested: `bash scripts/demo.sh` starts the cluster of
 * cluster/local.json (ports 7001-7003 and 7101-7103, so no other user of those ports may run at
 * the same time; the cluster test project runs its files one at a time), goes through PUT/GET,
 * `raftkv status`, killing a leader, the dashboard's failover entry and the node's restart, and
 * exits 0 only if every expected outcome was seen.
 */

import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ensureBuilt, repoRoot } from '../../harness/index.js';

const demoTimeoutMs = 240_000;

describe('the walkthrough (scripts/demo.sh)', () => {
  it(
    'runs against a local cluster and sees every expected outcome',
    async () => {
      await ensureBuilt();
      const child = spawn('bash', ['scripts/demo.sh'], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, RAFTKV_LOG_FORMAT: 'json' },
      });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
      // The script stops its nodes on any exit; SIGTERM lets its trap run.
      const timer = setTimeout(() => child.kill('SIGTERM'), demoTimeoutMs - 10_000);
      const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
      clearTimeout(timer);
      console.log(`[demo] bash scripts/demo.sh exited ${code}:\n${output}`);
      expect(output).toMatch(/demo: all \d+ checks passed/);
      expect(code).toBe(0);
    },
    demoTimeoutMs,
  );
});
