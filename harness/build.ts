/**
 * Makes sure `dist/` holds a build of the current `src/` before real `node dist/cli.js serve`
 * processes start: if dist/cli.js is missing or older than any file under src/ (or the tsconfig
 * files), runs `npm run build` once. Test files may run in parallel workers, so the build runs
 * under a lock directory; a lock whose owner process is gone is taken over.
 */

import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath, repoRoot } from './paths.js';
import { sleep } from './wait.js';

const lockDir = join(repoRoot, 'node_modules', '.raftkv-build.lock');
const lockWaitMs = 120_000;

/** The newest modification time (ms) of the files the build reads. */
function newestSourceMs(): number {
  let newest = 0;
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  visit(join(repoRoot, 'src'));
  for (const f of ['tsconfig.json', 'tsconfig.build.json']) {
    newest = Math.max(newest, statSync(join(repoRoot, f)).mtimeMs);
  }
  return newest;
}

/** True when dist/cli.js exists and is at least as new as every source file. */
export function distIsFresh(): boolean {
  let builtMs: number;
  try {
    builtMs = statSync(cliPath).mtimeMs;
  } catch {
    return false;
  }
  return builtMs >= newestSourceMs();
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryLock(): boolean {
  try {
    mkdirSync(lockDir);
    writeFileSync(join(lockDir, 'pid'), String(process.pid));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    let owner = Number.NaN;
    try {
      owner = Number(readFileSync(join(lockDir, 'pid'), 'utf8'));
    } catch {
      // The owner has created the directory but not yet written its pid.
    }
    if (Number.isInteger(owner) && !processAlive(owner)) rmSync(lockDir, { recursive: true, force: true });
    return false;
  }
}

let checked = false;

/** Builds dist/ if it is missing or stale; checks once per process. */
export async function ensureBuilt(): Promise<void> {
  if (checked) return;
  if (distIsFresh()) {
    checked = true;
    return;
  }
  const deadline = Date.now() + lockWaitMs;
  while (!tryLock()) {
    if (Date.now() > deadline) throw new Error(`could not take the build lock ${lockDir}`);
    await sleep(200);
  }
  try {
    if (!distIsFresh()) {
      const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
      const res = spawnSync(npm, ['run', 'build'], { cwd: repoRoot, encoding: 'utf8' });
      if (res.status !== 0) {
        throw new Error(`npm run build failed (exit ${res.status}):\n${res.stdout}\n${res.stderr}`);
      }
    }
    checked = true;
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}
