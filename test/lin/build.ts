/**
 * A round runs its nodes from a private copy of dist/ (`privateBuild`), so that a rebuild in the
 * middle of a round cannot change, or half-break, the code of a node that the nemesis restarts.
 * The build itself is made fresh by the harness's `ensureBuilt`.
 */

import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBuilt, repoRoot, sleep } from '../../harness/index.js';

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
    await sleep(3_000);
  }
}
