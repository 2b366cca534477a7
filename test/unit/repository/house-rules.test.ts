/**
 * Rules about the repository itself, checked on every file git tracks: no package registry or
 * mirror host is named anywhere (the machine's own configuration says where packages come
 * from), and src/ shows its layers (every folder under a rule of .dependency-cruiser.cjs, no
 * loose files but the executable's entry point). ARCHITECTURE.md describes the layers.
 */

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../..', import.meta.url));

const tracked = (): string[] =>
  execFileSync('git', ['ls-files', '-z'], { cwd: repo, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f !== '' && statSync(join(repo, f), { throwIfNoEntry: false })?.isFile() === true);

/** Hosts of package registries and mirrors, spelled in pieces so that this file names none of them. */
const hostPatterns: readonly RegExp[] = [
  ['deb', 'debian', 'org'],
  ['security', 'debian', 'org'],
  ['ftp', '[a-z.]*debian', 'org'],
  ['archive', 'ubuntu', 'com'],
  ['registry', 'npmjs', '(org|com)'],
  ['registry', 'yarnpkg', 'com'],
  ['registry-1', 'docker', 'io'],
  ['docker', 'io/'],
  ['ghcr', 'io'],
  ['quay', 'io'],
  ['gcr', 'io'],
  ['mirrors?', '[a-z0-9-]+', '[a-z]{2,}'],
].map((parts) => new RegExp(`\\b${parts.join('\\.')}`, 'i'));

describe('the repository', () => {
  it('names no package registry or mirror host in any tracked file', () => {
    const hits: string[] = [];
    for (const file of tracked()) {
      const text = readFileSync(join(repo, file), 'latin1');
      for (const p of hostPatterns) {
        const m = p.exec(text);
        if (m !== null) hits.push(`${file}: ${m[0]}`);
      }
    }
    expect(hits).toEqual([]);
  });

  it('keeps no loose file in src/ but the cli.ts entry point', () => {
    const loose = readdirSync(join(repo, 'src'), { withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => d.name);
    expect(loose).toEqual(['cli.ts']);
  });

  it('puts every folder of src/ under a layer rule of .dependency-cruiser.cjs', () => {
    const config = createRequire(import.meta.url)(join(repo, '.dependency-cruiser.cjs')) as {
      forbidden: { from: { path?: string } }[];
    };
    const ruled = new Set(
      config.forbidden.flatMap((r) => /^\^src\/([a-z-]+)\/$/.exec(r.from.path ?? '')?.[1] ?? []),
    );
    const folders = readdirSync(join(repo, 'src'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    expect(folders.filter((f) => !ruled.has(f))).toEqual([]);
  });
});
