/**
 * Shorthands for writing small client histories by hand in tests of the checker and the report.
 */

import type { Op, Operation, Output } from './history.js';

let nextId = 0;

/** One operation; without a return time it is indeterminate (`info`), else `ok` unless told. */
export const op = (
  client: number,
  call: number,
  ret: number | null,
  o: Op,
  output: Output | null,
  outcome: Operation['outcome'] = ret === null ? 'info' : 'ok',
  key = 'k',
): Operation => ({
  id: nextId++,
  client,
  key,
  op: o,
  call,
  ret: ret ?? Number.POSITIVE_INFINITY,
  outcome,
  output,
});

export const write = (value: string): Op => ({ f: 'write', value });
export const read: Op = { f: 'read' };
export const cas = (expect: string, value: string): Op => ({ f: 'cas', expect, value });
export const del: Op = { f: 'delete' };
