/**
 * The sequential specification the checker holds a history to: one register per key, with
 * versions. A write's version is chosen by the store, so the model learns it from what the
 * write (or a later read) reports; a version from an operation whose answer was lost is unknown
 * until something observes it.
 */

import type { Op, Output } from './history.js';

/** The register's state: absent, or a value with its version (null while unknown). */
export type RegisterState =
  | { readonly present: false }
  | { readonly present: true; readonly value: string; readonly version: string | null };

export const absent: RegisterState = { present: false };

/**
 * What the whole history of a key says about versions, which sharpens the model. README's API makes a
 * version unique to one write of the key; where a value is written by only one operation (the
 * workload writes unique values), a version observed with that value is the version of that
 * write wherever it takes effect, and a value never observed has a version nobody saw, which no
 * compare-and-set (whose expected version was observed) can name. A version observed with two
 * different values is impossible.
 */
export interface VersionKnowledge {
  /** The version `value` was observed with, if it is written by one operation and was observed. */
  readonly versionOf: (value: string) => string | undefined;
  /** True if `value` is written by one operation and no ok operation observed its version. */
  readonly unobserved: (value: string) => boolean;
  /** True when ok operations observed this version with two different values. */
  readonly conflicting: (version: string) => boolean;
}

/** Learns from a key's operations (any outcome): who writes which value, what ok ones observed. */
export function learnVersions(
  ops: Iterable<{ readonly op: Op; readonly outcome: string; readonly output: Output | null }>,
): VersionKnowledge {
  const writers = new Map<string, number>();
  const versionOf = new Map<string, string>();
  const valueAt = new Map<string, string>();
  const conflicts = new Set<string>();
  const see = (value: string, version: string) => {
    if (!versionOf.has(value)) versionOf.set(value, version);
    const v = valueAt.get(version);
    if (v === undefined) valueAt.set(version, value);
    else if (v !== value) conflicts.add(version);
  };
  for (const { op, outcome, output } of ops) {
    if (op.f === 'write' || op.f === 'cas') writers.set(op.value, (writers.get(op.value) ?? 0) + 1);
    if (outcome !== 'ok') continue;
    if (output?.kind === 'value') see(output.value, output.version);
    else if (output?.kind === 'written' && (op.f === 'write' || op.f === 'cas'))
      see(op.value, output.version);
  }
  const unique = (v: string) => writers.get(v) === 1;
  return {
    versionOf: (v) => (unique(v) ? versionOf.get(v) : undefined),
    unobserved: (v) => unique(v) && !versionOf.has(v),
    conflicting: (v) => conflicts.has(v),
  };
}

/**
 * The states after applying `op` with observed `output` (null for an operation whose answer was
 * lost) to `s`, or null when that observation is impossible from `s`. With `known`, a value
 * written by an operation whose answer was lost takes the version it was observed with (if any),
 * and a value nobody observed matches no compare-and-set.
 */
export function step(
  s: RegisterState,
  op: Op,
  output: Output | null,
  known?: VersionKnowledge,
): RegisterState | null {
  switch (op.f) {
    case 'read':
      if (output === null) return s;
      if (output.kind === 'absent') return s.present ? null : s;
      if (output.kind !== 'value' || !s.present || s.value !== output.value) return null;
      if (known?.conflicting(output.version)) return null;
      if (s.version === null) return { present: true, value: s.value, version: output.version };
      return s.version === output.version ? s : null;
    case 'write':
      if (output === null)
        return { present: true, value: op.value, version: known?.versionOf(op.value) ?? null };
      if (output.kind !== 'written' || known?.conflicting(output.version)) return null;
      return { present: true, value: op.value, version: output.version };
    case 'cas': {
      const matches =
        s.present && (s.version === op.expect || (s.version === null && known?.unobserved(s.value) !== true));
      if (output === null)
        return matches ? { present: true, value: op.value, version: known?.versionOf(op.value) ?? null } : s;
      if (output.kind === 'preconditionFailed') return s.present && s.version === op.expect ? null : s;
      if (output.kind !== 'written' || !matches || known?.conflicting(output.version)) return null;
      return { present: true, value: op.value, version: output.version };
    }
    case 'delete':
      if (output === null) return s.present ? absent : s;
      if (output.kind === 'deleted') return s.present ? absent : null;
      if (output.kind === 'absent') return s.present ? null : s;
      return null;
  }
}

export function stateKey(s: RegisterState): string {
  return s.present ? `${s.value}\u0000${s.version ?? ''}` : '';
}
