/**
 * The CPU time a process has used, from /proc/<pid>/stat (user + system, in seconds): how the
 * benchmarks charge CPU to each node process, independent of what the process says of itself.
 */

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of the stat fields (`getconf CLK_TCK`; 100 on Linux when unknown). */
const ticksPerSecond = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/** User + system CPU seconds of process `pid` so far. Throws when the process is gone. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the name.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable /proc/${pid}/stat`);
  return (utime + stime) / ticksPerSecond;
}

/**
 * Starts counting the CPU of `pids`: the returned function gives each one's CPU seconds since
 * then, in the order given.
 */
export function cpuSince(pids: readonly number[]): () => number[] {
  const before = pids.map(cpuSeconds);
  return () => pids.map((pid, i) => cpuSeconds(pid) - before[i]!);
}
