/**
 * BENCHMARKS.md is written by several benchmarks, each owning one section between the markers
 * `<!-- begin NAME -->` and `<!-- end NAME -->`: a run replaces its own section and keeps the rest.
 */

import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** Replaces section `name` of the markdown file at `path` with `md` (appended when absent). */
export function writeSection(path: string, name: string, md: string): void {
  const begin = `<!-- begin ${name} -->`;
  const end = `<!-- end ${name} -->`;
  const block = `${begin}\n${md.trimEnd()}\n${end}`;
  const old = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const from = old.indexOf(begin);
  const to = old.indexOf(end);
  const next =
    from >= 0 && to > from
      ? `${old.slice(0, from)}${block}${old.slice(to + end.length)}`
      : `${old.trimEnd()}${old.length > 0 ? '\n\n' : ''}${block}\n`;
  writeFileSync(path, next);
}

/** The median of the finite values of `xs` (NaN when there are none). */
export function median(xs: readonly number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
