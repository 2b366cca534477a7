/**
 * Loading a node's security material: the cluster secret (environment over file, created once
 * when asked, too short refused), the API tokens file, TLS files, and the cluster file rules that
 * tie https URLs to TLS files. Every refusal is one sentence naming what to fix.
 */

import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiTokens } from '../../src/api/tokens.js';
import { parseClusterConfig } from '../../src/config/cluster-file.js';
import { loadSecurity } from '../../src/server/security.js';

const nodes = (scheme = 'http') =>
  [1, 2, 3].map((i) => ({
    id: `n${i}`,
    api: `${scheme}://127.0.0.1:${7000 + i}`,
    peer: `${scheme}://127.0.0.1:${7100 + i}`,
  }));
const config = (security: object = {}, scheme = 'http') =>
  parseClusterConfig({ nodes: nodes(scheme), shards: 3, replicas: 3, security });

let dir = '';
const fresh = () => {
  dir = mkdtempSync(join(tmpdir(), 'raftkv-sec-'));
  return join(dir, 'cluster.json');
};
afterEach(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  dir = '';
});

describe('the cluster secret', () => {
  it('comes from RAFTKV_CLUSTER_SECRET before the secret file, trimmed', () => {
    const path = fresh();
    writeFileSync(join(dir, 'secret'), 'from-the-file-0123456789\n');
    const c = config({ secretFile: 'secret' });
    expect(loadSecurity(c, path, 'n1', { RAFTKV_CLUSTER_SECRET: ' from-the-env-0123456789 ' }).secret).toBe(
      'from-the-env-0123456789',
    );
    expect(loadSecurity(c, path, 'n1', {}).secret).toBe('from-the-file-0123456789');
  });

  it('is required, and at least 16 bytes', () => {
    const path = fresh();
    expect(() => loadSecurity(config(), path, 'n1', {})).toThrow(
      /^no cluster secret: set RAFTKV_CLUSTER_SECRET or "security.secretFile"/,
    );
    expect(() => loadSecurity(config(), path, 'n1', { RAFTKV_CLUSTER_SECRET: 'short' })).toThrow(
      'the cluster secret must be at least 16 bytes',
    );
    expect(() => loadSecurity(config({ secretFile: 'missing' }), path, 'n1', {})).toThrow(
      `cannot read the cluster secret file ${join(dir, 'missing')}`,
    );
  });

  it('is created once, private, when createSecret is on, and every node then reads the same', () => {
    const path = fresh();
    const c = config({ secretFile: 'shared/cluster.secret', createSecret: true });
    mkdirSync(join(dir, 'shared'));
    const first = loadSecurity(c, path, 'n1', {});
    const second = loadSecurity(c, path, 'n2', {});
    expect(first.secretCreated).toBe(join(dir, 'shared/cluster.secret'));
    expect(second.secretCreated).toBeNull();
    expect(second.secret).toBe(first.secret);
    expect(first.secret).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(join(dir, 'shared/cluster.secret')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'shared/cluster.secret'), 'utf8')).toBe(`${first.secret}\n`);
  });

  it('cannot be created without a file to create', () => {
    expect(() => config({ createSecret: true })).toThrow(
      'cluster file is invalid at "security.createSecret": needs a secretFile to create',
    );
  });
});

describe('TLS in the cluster file', () => {
  it('ties https URLs to certificate files, and the other way round', () => {
    expect(() => config({}, 'https')).toThrow(
      'cluster file is invalid at "security.tls": must name cert and key files: the api URLs are https',
    );
    expect(() => config({ tls: { cert: 'c', key: 'k' } })).toThrow(
      'cluster file is invalid at "security.tls": is set but no api or peer URL is https',
    );
    const mixed = nodes();
    mixed[1] = { ...mixed[1]!, api: 'https://127.0.0.1:7002' };
    expect(() =>
      parseClusterConfig({
        nodes: mixed,
        shards: 1,
        replicas: 1,
        security: { tls: { cert: 'c', key: 'k' } },
      }),
    ).toThrow('every api URL must use the same scheme');
  });

  it("reads this node's certificate and key ({id}) and the CA, relative to the cluster file", () => {
    const path = fresh();
    for (const f of ['n2.crt', 'n2.key', 'ca.crt']) writeFileSync(join(dir, f), `pem of ${f}`);
    const s = loadSecurity(
      config({ tls: { cert: '{id}.crt', key: '{id}.key', ca: 'ca.crt' } }, 'https'),
      path,
      'n2',
      { RAFTKV_CLUSTER_SECRET: 'x'.repeat(16) },
    );
    expect(s.peerTls).toBe(s.apiTls);
    expect(s.ca).toBe(s.apiTls?.ca);
    expect([s.apiTls?.cert.toString(), s.apiTls?.key.toString(), s.apiTls?.ca?.toString()]).toEqual([
      'pem of n2.crt',
      'pem of n2.key',
      'pem of ca.crt',
    ]);
    expect(() =>
      loadSecurity(config({ tls: { cert: '{id}.crt', key: '{id}.key' } }, 'https'), path, 'n1', {
        RAFTKV_CLUSTER_SECRET: 'x'.repeat(16),
      }),
    ).toThrow(`cannot read the TLS certificate ${join(dir, 'n1.crt')}`);
  });
});

describe('API tokens', () => {
  const file = (tokens: unknown) => JSON.stringify({ tokens });

  it('finds a token holder and its right; an unknown token finds no one', () => {
    const t = ApiTokens.parse(
      file([
        { name: 'app', token: 'a'.repeat(16), access: 'read-write' },
        { name: 'viewer', token: 'b'.repeat(20), access: 'read-only' },
      ]),
    );
    expect(t.holder('a'.repeat(16))).toEqual({ name: 'app', access: 'read-write' });
    expect(t.holder('b'.repeat(20))).toEqual({ name: 'viewer', access: 'read-only' });
    expect(t.holder('a'.repeat(15))).toBeNull();
    expect(t.holder('')).toBeNull();
  });

  it.each([
    ['{', /^is not valid JSON/],
    [file([]), 'is invalid at "tokens": must list at least one token'],
    [
      file([{ name: 'x', token: 'short', access: 'read-write' }]),
      'is invalid at "tokens.0.token": must be at least 16 characters',
    ],
    [
      file([{ name: 'x', token: 'has a space in it!', access: 'read-write' }]),
      /printable ASCII without spaces/,
    ],
    [file([{ name: 'x', token: 'a'.repeat(16), access: 'admin' }]), /^is invalid at "tokens.0.access"/],
    [
      file([
        { name: 'x', token: 'a'.repeat(16), access: 'read-write' },
        { name: 'y', token: 'a'.repeat(16), access: 'read-only' },
      ]),
      'lists the token of "y" twice',
    ],
  ])('refuses a bad tokens file: %s', (text, message) => {
    expect(() => ApiTokens.parse(text)).toThrow(message);
  });

  it('names the tokens file when it is refused at start-up', () => {
    const path = fresh();
    writeFileSync(join(dir, 'tokens.json'), file([]));
    expect(() =>
      loadSecurity(config({ tokensFile: 'tokens.json' }), path, 'n1', {
        RAFTKV_CLUSTER_SECRET: 'x'.repeat(16),
      }),
    ).toThrow(`tokens file ${join(dir, 'tokens.json')} is invalid at "tokens": must list at least one token`);
  });
});
