/**
 * A real disk fills up under a running node (issue #8). n1's data directory is a small tmpfs;
 * large writes fill it until LevelDB fails with ENOSPC. n1 must then stop acknowledging, log one
 * line naming the error, and exit non-zero, while n2 and n3 keep serving every write the cluster
 * acknowledged. Given room again, n1 starts from what was durable and catches up. Needs root (or
 * CAP_SYS_ADMIN) to mount; skipped, saying so, where mounting is not permitted.
 */

import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, describe, expect, it } from 'vitest';
import { localClusterSecret } from '../../harness/index.js';
import { runCli, TestCluster } from './harness.js';

// runCli's node must know the cluster secret the harness gives its nodes.
process.env.RAFTKV_CLUSTER_SECRET ??= localClusterSecret;

const sick = 'n1';
const valueBytes = 60_000;

function mount(dir: string, sizeMb: number, remount = false): { ok: boolean; why: string } {
  const args = remount
    ? ['-o', `remount,size=${sizeMb}m`, dir]
    : ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir];
  const r = spawnSync('mount', args, { encoding: 'utf8' });
  return { ok: r.status === 0, why: `${r.error?.message ?? ''}${r.stderr ?? ''}`.trim() };
}

function umount(dir: string): void {
  if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]);
}

/** Whether this process may mount a tmpfs (root, or CAP_SYS_ADMIN); tried once on a scratch dir. */
const mountable = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-mount-probe-'));
  const r = mount(dir, 1);
  if (r.ok) umount(dir);
  rmdirSync(dir);
  if (!r.ok) console.log(`[sick-disk] skipped: cannot mount a tmpfs here (${r.why || 'mount failed'})`);
  return r.ok;
})();

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The pino lines of `text` at level fatal. */
function fatalLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((o) => o.level === 60);
}

describe('a sick disk: ENOSPC on a real filesystem', () => {
  let cl: TestCluster | null = null;
  let mounted: string | null = null;
  afterAll(async () => {
    if (cl === null) return;
    if (cl.isRunning(sick)) await cl.kill(sick);
    if (mounted !== null) umount(mounted);
    await cl.stop();
  });

  it.skipIf(!mountable)(
    'the node with a full disk stops with one line and exit 2, nothing acknowledged is lost, and it catches up once given room',
    async () => {
      const c = await TestCluster.create({ name: 'sick-disk', tuning: { valueBytesMax: 64 * 1024 } });
      cl = c;
      const dir = c.dataDir(sick);
      mkdirSync(dir, { recursive: true });
      const m = mount(dir, 8);
      expect(m).toEqual({ ok: true, why: '' });
      mounted = dir;
      try {
        await c.start();
        await c.waitReady();
        await c.waitBalanced();

        // Writers fill n1's disk through n2 and n3 (every shard has a replica on n1).
        const acked = new Map<string, { sha: string; version: string }>();
        const outcomes = new Map<string, number>();
        let seq = 0;
        let firstFailureMs: number | null = null;
        const startedMs = performance.now();
        const exitedAt = c.waitFor(() => !c.isRunning(sick) && Date.now(), {
          intervalMs: 5,
          timeoutMs: 130_000,
          what: `${sick} to exit`,
        });
        const writer = async (w: number) => {
          while (c.isRunning(sick) && performance.now() - startedMs < 120_000) {
            const key = `sick-disk/w${w}/${seq++}`;
            const value = randomBytes(valueBytes);
            let label: string;
            try {
              const r = await c.put(key, value, { node: seq % 2 === 0 ? 'n2' : 'n3', timeoutMs: 10_000 });
              label = String(r.status);
              if (r.status === 200)
                acked.set(key, { sha: sha(value), version: r.json<{ version: string }>().version });
            } catch (err) {
              label = (err as { code?: string }).code ?? 'error';
            }
            if (label !== '200') firstFailureMs ??= performance.now();
            outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
          }
        };
        await Promise.all([0, 1, 2, 3].map(writer));
        const exitedMs = performance.now();
        expect(c.isRunning(sick)).toBe(false);
        const ackedBeforeExit = acked.size;

        // Exit code 2, and one line naming the error.
        const exit = await c.waitFor(
          () => /--- harness: n1 pid \d+ exited \((-?\d+|null)\) ---/.exec(c.logText(sick)),
          {
            what: `${sick}'s exit to be logged`,
          },
        );
        expect(exit?.[1]).toBe('2');
        const fatal = fatalLines(c.logText(sick));
        const exitAfterLineMs = (await exitedAt) - Number(fatal[0]?.time);
        expect(fatal.map((l) => l.msg)).toEqual([
          `storage failed (ENOSPC: no space left on device) on ${dir}; stopping: no more writes are acknowledged`,
        ]);

        // The cluster keeps serving: new leaders where n1 led, and writes through n2 and n3.
        for (let shard = 0; shard < c.shards; shard++) await c.waitLeader(shard, { not: sick });
        const after = [];
        for (let i = 0; i < 30; i++) {
          const key = `sick-disk/after/${i}`;
          const value = randomBytes(valueBytes);
          const r = await c.put(key, value, { node: i % 2 === 0 ? 'n2' : 'n3' });
          after.push(r.status);
          if (r.status === 200)
            acked.set(key, { sha: sha(value), version: r.json<{ version: string }>().version });
        }
        expect(after.filter((s) => s !== 200)).toEqual([]);

        // Every acknowledged write is readable, with its value, through both remaining nodes.
        const wrong: string[] = [];
        for (const [key, want] of acked) {
          for (const node of ['n2', 'n3']) {
            const r = await c.get(key, { node });
            if (r.status !== 200 || sha(r.body) !== want.sha)
              wrong.push(
                `${key} via ${node}: ${r.status} ${r.status === 200 ? 'wrong value' : r.body.toString()}`,
              );
          }
        }
        expect(wrong).toEqual([]);

        // Still full: a restart is refused, naming the error, rather than run on a disk it cannot write.
        const full = await runCli(['serve', '--config', c.configPath, '--id', sick, '--data', dir]);
        const fullLine = full.stderr.split('\n')[0]!;
        expect({ code: full.code, lines: full.stderr.split('\n').length }).toEqual({ code: 1, lines: 2 });
        expect(
          fullLine.startsWith(
            `raftkv: cannot open data directory ${join(dir, 'raft')} (ENOSPC: no space left on device): `,
          ),
        ).toBe(true);

        // Room again: n1 starts from what was durable and catches up.
        expect(mount(dir, 64, true)).toEqual({ ok: true, why: '' });
        const restartMs = performance.now();
        await c.start(sick);
        await c.waitReady();
        const leaders = await Promise.all(Array.from({ length: c.shards }, (_, s) => c.waitLeader(s)));
        await c.waitFor(
          async () => {
            for (let s = 0; s < c.shards; s++) {
              const leader = await c.groupStatus(leaders[s]!, s);
              if ((await c.groupStatus(sick, s)).applied < leader.commit) return false;
            }
            return true;
          },
          { timeoutMs: 30_000, what: `${sick} to catch up on every shard` },
        );
        const caughtUpMs = performance.now();
        const stale: string[] = [];
        for (const [key, want] of acked) {
          const r = await c.get(key, { node: sick, stale: true });
          if (r.status !== 200 || sha(r.body) !== want.sha) stale.push(`${key}: ${r.status}`);
        }
        expect(stale).toEqual([]);

        const counts = [...outcomes].map(([k, v]) => `${v}× ${k}`).join(', ');
        console.log(
          `[sick-disk] 8 MiB tmpfs under ${sick}: ${ackedBeforeExit} writes of ${valueBytes} bytes acknowledged before ${sick} exited ` +
            `(outcomes while it ran: ${counts}); exit code ${exit?.[1]}, ` +
            `${firstFailureMs === null ? 'no client saw an error' : `${Math.round(exitedMs - firstFailureMs)} ms from the first failed write to the writers seeing the exit`}; ` +
            `exit ${exitAfterLineMs} ms after its one line: "${String(fatal[0]?.msg)}"; a restart on the full disk refused: "${fullLine}"; 30 more writes through n2 and n3 all 200; ${acked.size} acknowledged writes read back through n2 and n3, ` +
            `${wrong.length} wrong; remounted at 64 MiB, ${sick} started and caught up in ${Math.round(caughtUpMs - restartMs)} ms and serves all of them (${stale.length} wrong)`,
        );
      } finally {
        if (c.isRunning(sick)) await c.kill(sick);
        umount(dir);
        mounted = null;
      }
    },
    240_000,
  );
});
