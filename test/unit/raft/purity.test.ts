/**
 * The core is a pure, synchronous, deterministic state machine (ARCHITECTURE.md, the `raft/`
 * layer): these checks read the source of src/raft and fail on anything that would let time,
 * randomness, I/O, concurrency or outside code into it.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dir = fileURLToPath(new URL('../../../src/raft/', import.meta.url));
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .sort();
const source = (file: string) => readFileSync(`${dir}${file}`, 'utf8');

/** Lines of `file` where `pattern` occurs, as `line: text`, so a failure says where. */
function occurrences(file: string, pattern: RegExp): string[] {
  return source(file)
    .split('\n')
    .flatMap((line, k) => (pattern.test(line) ? [`${k + 1}: ${line.trim()}`] : []));
}

/** Every module specifier the file imports or re-exports, including dynamic imports. */
function specifiers(file: string): string[] {
  const text = source(file);
  const found: string[] = [];
  const statements = [
    /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s*['"]([^'"]+)['"]/g,
    /(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g,
    /\b(?:import|require)\s*\(/g,
  ];
  for (const re of statements) {
    for (const m of text.matchAll(re)) found.push(m[1] ?? m[0]);
  }
  return found;
}

describe('src/raft is pure (ARCHITECTURE.md)', () => {
  it('the core has source files to check', () => {
    expect(files).toContain('raft-node.ts');
    expect(files).toContain('raft.ts');
  });

  it.each(files)(
    '%s has no async, await or Promise: a transition runs to completion and never interleaves with another',
    (file) => {
      expect(occurrences(file, /\b(async|await|Promise)\b/)).toEqual([]);
    },
  );

  it.each(files)(
    '%s reads no clock (Date, setTimeout, setInterval): time enters the core only as tick()',
    (file) => {
      expect(occurrences(file, /\b(Date|setTimeout|setInterval)\b/)).toEqual([]);
    },
  );

  it.each(files)(
    '%s does not use Math.random: randomness comes from the injected, seeded Rng so a seed replays a run',
    (file) => {
      expect(occurrences(file, /\bMath\.random\b/)).toEqual([]);
    },
  );

  it.each(files)('%s does not touch process.: the core does no I/O and reads no environment', (file) => {
    expect(occurrences(file, /\bprocess\./)).toEqual([]);
  });

  it.each(files)(
    '%s imports only from ./ within src/raft: no packages, no Node built-ins, no other layer',
    (file) => {
      expect(specifiers(file).filter((s) => !s.startsWith('./'))).toEqual([]);
    },
  );
});
