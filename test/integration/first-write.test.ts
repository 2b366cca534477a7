/**
 * `npm start` says ready only when the first request will work: 20 fresh starts of the same
 * script (scripts/start-local.ts, on a cluster file of free ports and an empty data directory),
 * each followed, the instant it prints ready, by one write through a different node each time.
 * Every one of those first writes must be acknowledged (200).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureBuilt, freePorts, repoRoot } from '../../harness/index.js';

const starts = 20;
/** One start: the script's own bound for settling is 20 s; stopping takes a few more. */
const startTimeoutMs = 30_000;

const work = mkdtempSync(join(tmpdir(), 'raftkv-first-write-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Resolves with the first line of `child`'s stdout that matches `pattern`, or rejects at its exit. */
function lineMatching(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout?.on('data', (c: Buffer) => {
      seen += c.toString('utf8');
      const line = seen.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`npm start exited (${code}) before: ${pattern}\n${seen}`)));
  });
}

describe('npm start', () => {
  it(
    `says ready only when the first write works (${starts} fresh starts)`,
    async () => {
      await ensureBuilt();
      const ports = await freePorts(6);
      const nodes = ['n1', 'n2', 'n3'].map((id, i) => ({
        id,
        api: `http://127.0.0.1:${ports[i]}`,
        peer: `http://127.0.0.1:${ports[i + 3]}`,
      }));
      const configPath = join(work, 'cluster.json');
      writeFileSync(
        configPath,
        JSON.stringify({
          nodes,
          shards: 3,
          replicas: 3,
          security: { secretFile: 'cluster.secret', createSecret: true },
        }),
      );
      const answers: number[] = [];
      for (let run = 0; run < starts; run++) {
        const data = join(work, `data-${run}`);
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', 'scripts/start-local.ts', '--config', configPath, '--data', data],
          {
            cwd: repoRoot,
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, RAFTKV_LOG_LEVEL: 'warn' },
          },
        );
        const exited = new Promise((resolve) => child.once('exit', resolve));
        try {
          const said = await Promise.race([
            lineMatching(child, /^raftkv: (ready|not settled)/),
            new Promise<string>((_, reject) =>
              setTimeout(() => reject(new Error('npm start said nothing in time')), startTimeoutMs),
            ),
          ]);
          expect(said).toMatch(/^raftkv: ready in \d+ ms/);
          const via = nodes[run % nodes.length]!.api;
          const res = await fetch(`${via}/v1/kv/first-${run}`, { method: 'PUT', body: `write ${run}` });
          answers.push(res.status);
        } finally {
          child.kill('SIGINT');
          await exited;
        }
      }
      expect(answers).toEqual(Array(starts).fill(200));
    },
    starts * startTimeoutMs,
  );
});
