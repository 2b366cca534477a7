/**
 * The shared HTTP contract (src/protocol) against README's API and against the layers that keep their
 * own copy of a number: the catalogue's codes and statuses, the node's error factories, the key
 * limit of the key-value layer, and provenance headers that read back as they were written.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyBytesMax as kvKeyBytesMax } from '../../../src/kv/keys.js';
import {
  badRequest,
  conflict,
  notFound,
  outcomeUnknown,
  preconditionFailed,
  tooLarge,
  unavailable,
} from '../../../src/node/index.js';
import {
  errorStatuses,
  isErrorCode,
  keyBytesMax,
  listLimitDefault,
  listLimitMax,
  listLimitMin,
  parseProvenance,
  provenanceHeadersOf,
} from '../../../src/protocol/index.js';

describe('the HTTP contract', () => {
  it("has the error table of README's API", () => {
    expect(errorStatuses).toEqual({
      bad_request: 400,
      unauthorized: 401,
      forbidden: 403,
      not_found: 404,
      conflict: 409,
      compacted: 410,
      precondition_failed: 412,
      too_large: 413,
      unavailable: 503,
      timeout: 504,
      internal: 500,
    });
    expect([isErrorCode('timeout'), isErrorCode('toString'), isErrorCode(504)]).toEqual([true, false, false]);
  });

  it('agrees with the error catalogue the node throws', () => {
    for (const err of [
      badRequest('m'),
      notFound('k'),
      conflict('m'),
      preconditionFailed('m'),
      tooLarge(1),
      unavailable('m'),
      outcomeUnknown('m'),
    ]) {
      expect({ code: err.code, status: err.status }).toEqual({
        code: err.code,
        status: errorStatuses[err.code],
      });
    }
  });

  it("has the limits of README's API, the key limit the same as the key-value layer checks", () => {
    expect({ keyBytesMax, listLimitMin, listLimitMax, listLimitDefault }).toEqual({
      keyBytesMax: 1024,
      listLimitMin: 1,
      listLimitMax: 1000,
      listLimitDefault: 100,
    });
    expect(kvKeyBytesMax).toBe(keyBytesMax);
  });

  it('reads back the provenance it writes', () => {
    const field = fc.nat({ max: Number.MAX_SAFE_INTEGER });
    fc.assert(
      fc.property(field, fc.string({ minLength: 1 }), field, field, (shard, node, term, index) => {
        const headers = provenanceHeadersOf({ shard, node, term, index });
        expect(parseProvenance((name) => headers[name] ?? null)).toEqual({
          ok: true,
          at: { shard, node, term, index },
        });
      }),
    );
  });

  it('says which provenance header is missing or not a whole number', () => {
    const good = provenanceHeadersOf({ shard: 1, node: 'n2', term: 3, index: 4 });
    const problem = (change: Record<string, string | null>) => {
      const headers: Record<string, string | null> = { ...good, ...change };
      const parsed = parseProvenance((name) => headers[name] ?? null);
      return parsed.ok ? 'ok' : parsed.problem;
    };
    expect([
      problem({ 'x-raft-shard': null }),
      problem({ 'x-raft-node': null }),
      problem({ 'x-raft-node': '' }),
      problem({ 'x-raft-term': '-1' }),
      problem({ 'x-raft-index': '1.5' }),
      problem({ 'x-raft-index': '007' }),
      problem({ 'x-raft-index': '99999999999999999' }),
    ]).toEqual([
      'no x-raft-shard header',
      'no x-raft-node header',
      'no x-raft-node header',
      'x-raft-term is "-1", not a whole number',
      'x-raft-index is "1.5", not a whole number',
      'x-raft-index is "007", not a whole number',
      'x-raft-index is "99999999999999999", not a whole number',
    ]);
  });
});
