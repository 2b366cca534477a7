/**
 * Requests for fuzzing the client API: random ones (methods, odd and badly %-encoded paths,
 * over-long keys, query strings with garbage and repeated parameters, conditional and session
 * headers with garbage, random and oversized bodies) and well-formed ones on a few awkward keys,
 * which a model of the store can predict.
 */

import fc from 'fast-check';

/** The value limit of the node under test; bodies go up to a little past it. */
export const valueBytesMax = 512;

export type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE' | 'PATCH' | 'OPTIONS';

export interface FuzzRequest {
  readonly method: Method;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer | null;
}

/**
 * Keys the modelled requests use; valid, but awkward in a URL. Not `.` or `..`: inject() resolves
 * dot segments (even %2E ones) as a browser would, so those keys cannot be addressed through it.
 */
export const modelKeys = ['a', 'b/c', '...', 'a..b', 'ü', 'x y', '%', '🙂', 'a?b#c', '+', 'k'.repeat(1024)];

/** Escapes that are not valid percent-encoded UTF-8, or not escapes at all. */
const badEscapeArb = fc.constantFrom(
  '%',
  '%G0',
  '%C3%28',
  '%ED%A0%80',
  '%FF%FE',
  '%E2%82',
  '%C0%AF',
  '%00',
  '%2e%2e',
  '%2F',
  '%25',
);

const keySegmentArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }).map(encodeURIComponent),
  fc
    .array(fc.oneof(badEscapeArb, fc.string({ maxLength: 3 }).map(encodeURIComponent)), { maxLength: 5 })
    .map((xs) => xs.join('')),
  fc.integer({ min: 1020, max: 1100 }).map((n) => 'k'.repeat(n)),
  fc.integer({ min: 340, max: 400 }).map((n) => '%E2%82%AC'.repeat(n)),
  fc.constantFrom('', '..', '../..', './a', 'a/../b', 'a//b', '/', '%2F..%2F', '\u0000'),
);

const pathArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: keySegmentArb.map((k) => `/v1/kv/${k}`) },
  { weight: 2, arbitrary: fc.constant('/v1/kv') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '/v1/status',
      '/v1/cluster',
      '/healthz',
      '/readyz',
      '/metrics',
      '/ui',
      '/v1/ui/state',
      '/',
      '/v1',
      '/v1/kv/',
      '//v1/kv/a',
      '/v1//kv/a',
      '/V1/KV/a',
      '/v1/kv%2Fa',
      '/v2/kv/a',
    ),
  },
  // A request line always has a path that starts with a slash.
  { weight: 1, arbitrary: fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`)) },
);

const queryValueArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'stale',
    'linearizable',
    'STALE',
    '',
    '-1',
    '0',
    '1',
    '1000',
    '1001',
    '1e3',
    '1.5',
    'NaN',
    '9'.repeat(30),
    '0x10',
    ' 5',
  ),
  fc.string({ unit: 'grapheme', maxLength: 8 }).map(encodeURIComponent),
  badEscapeArb,
  fc.integer({ min: 1020, max: 1100 }).map((n) => 'p'.repeat(n)),
);

const queryArb: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(
      fc.constantFrom('consistency', 'limit', 'prefix', 'after', 'shard', 'x', '', '__proto__'),
      queryValueArb,
    ),
    { maxLength: 4 },
  )
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`));

/** Header values as HTTP can carry them: visible ASCII and spaces. */
const headerTextArb = fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, '').trim());

const headersArb: fc.Arbitrary<Record<string, string>> = fc
  .record(
    {
      'if-match': fc.oneof(
        headerTextArb,
        fc.nat(400).map((n) => `"${n}"`),
        fc.constantFrom('*', '""', '"a"b"', `"${'v'.repeat(65)}"`, 'W/"1"', '"1", "2"'),
      ),
      'if-none-match': fc.oneof(headerTextArb, fc.constantFrom('*', '"1"', '*, *')),
      'x-raft-client': fc.oneof(headerTextArb, fc.constantFrom('c1', 'c2', 'x'.repeat(129))),
      'x-raft-seq': fc.oneof(
        headerTextArb,
        fc.nat(300).map(String),
        fc.constantFrom('-1', '1.5', '9'.repeat(16), '0'),
      ),
      'x-raft-hops': fc.oneof(headerTextArb, fc.constantFrom('0', '1', '2', '99', '-1', 'NaN')),
      'content-type': fc.oneof(
        headerTextArb,
        fc.constantFrom('application/json', 'text/plain', 'application/octet-stream'),
      ),
    },
    { requiredKeys: [] },
  )
  .map((h) => h as Record<string, string>);

const bodyArb: fc.Arbitrary<Buffer | null> = fc.oneof(
  fc.constant(null),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  fc.json({ maxDepth: 2 }).map((j) => Buffer.from(j)),
  fc.integer({ min: valueBytesMax + 1, max: valueBytesMax + 256 }).map((n) => Buffer.alloc(n, 0x61)),
);

export const randomRequestArb: fc.Arbitrary<FuzzRequest> = fc.record({
  method: fc.constantFrom<Method>('GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'),
  url: fc.tuple(pathArb, queryArb).map(([p, q]) => p + q),
  headers: headersArb,
  body: bodyArb,
});

/** A well-formed request on one of `modelKeys`, which the model can predict. */
export interface ModelledRequest {
  readonly op: 'get' | 'head' | 'put' | 'delete';
  readonly key: string;
  readonly consistency: 'stale' | 'linearizable' | null;
  /** `current`: If-Match with the version the model knows, when it knows one. */
  readonly cond:
    | { kind: 'none' }
    | { kind: 'ifMatch'; version: number | 'current' }
    | { kind: 'ifNoneMatch' };
  readonly value: Buffer;
}

export const modelledRequestArb: fc.Arbitrary<ModelledRequest> = fc
  .record({
    op: fc.constantFrom('get' as const, 'head' as const, 'put' as const, 'delete' as const),
    key: fc.constantFrom(...modelKeys),
    consistency: fc.constantFrom('stale' as const, 'linearizable' as const, null),
    cond: fc.oneof(
      { weight: 3, arbitrary: fc.constant({ kind: 'none' as const }) },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('ifMatch' as const),
          version: fc.oneof(fc.constant('current' as const), fc.nat(400)),
        }),
      },
      { weight: 1, arbitrary: fc.constant({ kind: 'ifNoneMatch' as const }) },
    ),
    value: fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b)),
  })
  .map((r) =>
    r.op === 'delete' && r.cond.kind === 'ifNoneMatch' ? { ...r, cond: { kind: 'none' as const } } : r,
  );
