/**
 * Where the repository and its build are: the root every process of the harness starts from and
 * the `dist/cli.js` it runs unless told to run another copy.
 */

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root directory (the one holding package.json). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The built command line, `dist/cli.js`; `ensureBuilt()` makes it fresh. */
export const cliPath = join(repoRoot, 'dist', 'cli.js');
