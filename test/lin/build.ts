/**
 * Makes sure dist/ holds a build of the current src/ before a round starts real nodes: if
 * dist/cli.js is missing or older than a file under src/ (or the tsconfig files), runs
 * `npm run build`. The build runs under the same lock directory the integration harness uses
 * (node_modules/.raftkv-build.lock), so test files in parallel workers never build at once; a lock
 * whose owner process is gone is taken over.
 *
 * A round runs its nodes from a private copy of dist/ (`privateBuild`), so that a rebuild by
 * someone else in the middle of a round cannot change, or half-break, the code of a node that
 * the nemesis restarts.
 */

import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath, repoRoot } from '../../scripts/local-cluster.js';

const lockDir = join(repoRoot, 'node_modules', '.raftkv-build.lock');

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
  for (const f of ['tsconfig.json', 'tsconfig.build.json'])
    newest = Math.max(newest, statSync(join(repoRoot, f)).mtimeMs);
  return newest;
}

function fresh(): boolean {
  try {
    return statSync(cliPath).mtimeMs >= newestSourceMs();
  } catch {
    return false;
  }
}

function tryLock(): boolean {
  try {
    mkdirSync(lockDir);
    writeFileSync(join(lockDir, 'pid'), String(process.pid));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    try {
      const owner = Number(readFileSync(join(lockDir, 'pid'), 'utf8'));
      process.kill(owner, 0);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') rmSync(lockDir, { recursive: true, force: true });
    }
    return false;
  }
}

/** Builds dist/ if it is missing or stale. */
export async function ensureBuilt(): Promise<void> {
  if (fresh()) return;
  const deadline = Date.now() + 180_000;
  while (!tryLock()) {
    if (Date.now() > deadline) throw new Error(`could not take the build lock ${lockDir}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  try {
    if (fresh()) return;
    const res = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, encoding: 'utf8' });
    if (res.status !== 0)
      throw new Error(`npm run build failed (exit ${res.status}):\n${res.stdout}\n${res.stderr}`);
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

/**
 * Copies the (fresh) build to `dest` and returns the copy's cli.js, after checking that the copy
 * loads (`cli.js --help`): a copy taken while someone rebuilt dist/ is taken again. `dest` must lie
 * inside the repository, so the copy finds node_modules and package.json ("type": "module").
 */
export async function privateBuild(dest: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    await ensureBuilt();
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true });
    cpSync(join(repoRoot, 'dist'), dest, { recursive: true });
    const cli = join(dest, 'cli.js');
    const res = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8', timeout: 60_000 });
    if (res.status === 0) return cli;
    if (attempt >= 5)
      throw new Error(`the copy of dist/ in ${dest} does not load:\n${res.stderr.slice(0, 2_000)}`);
    await new Promise((r) => setTimeout(r, 3_000));
  }
}
