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
 * The states after applying `op` with observed `output` (null for an operation whose answer was
 * lost) to `s`, or null when that observation is impossible from `s`.
 */
export function step(s: RegisterState, op: Op, output: Output | null): RegisterState | null {
  switch (op.f) {
    case 'read':
      if (output === null) return s;
      if (output.kind === 'absent') return s.present ? null : s;
      if (output.kind !== 'value' || !s.present || s.value !== output.value) return null;
      if (s.version === null) return { present: true, value: s.value, version: output.version };
      return s.version === output.version ? s : null;
    case 'write':
      if (output === null) return { present: true, value: op.value, version: null };
      return output.kind === 'written' ? { present: true, value: op.value, version: output.version } : null;
    case 'cas': {
      const matches = s.present && (s.version === null || s.version === op.expect);
      if (output === null) return matches ? { present: true, value: op.value, version: null } : s;
      if (output.kind === 'preconditionFailed') return s.present && s.version === op.expect ? null : s;
      if (output.kind !== 'written' || !matches) return null;
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
