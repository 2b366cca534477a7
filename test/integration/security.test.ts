/**
 * Securing a cluster, end to end on real processes: API tokens enforced per right on every
 * client route (and carried along when a node forwards), peer requests refused without the
 * cluster's MAC (forged ones change nothing; a node with another secret never joins), and TLS on
 * both ports with mutual TLS on the peer port.
 */

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyBackup } from '../../src/backup/read.js';
import { RaftKV, RaftKVError } from '../../src/client/index.js';
import { peerAuthHeader, peerMac } from '../../src/transport/peer-auth.js';
import { batchPath } from '../../src/transport/peer-link.js';
import { encodeBatch, wireVersion } from '../../src/transport/wire.js';
import { makePki } from './certs.js';
import { type ErrorBody, runCli, type TestCluster, useCluster } from './harness.js';

const chromiumPath = '/usr/bin/chromium';
const readWrite = 'rw-token-0123456789abcdef';
const readOnly = 'ro-token-0123456789abcdef';
const tokensFile = JSON.stringify({
  tokens: [
    { name: 'app', token: readWrite, access: 'read-write' },
    { name: 'viewer', token: readOnly, access: 'read-only' },
  ],
});

/** A key of `shard` (found by hashing candidates on the cluster's ring). */
function keyOfShard(c: TestCluster, shard: number, tag: string): string {
  for (let i = 0; ; i++) if (c.ring.shardOf(`${tag}-${i}`) === shard) return `${tag}-${i}`;
}

/** The terms of every local group of `id`, by shard. */
async function terms(c: TestCluster, id: string): Promise<Record<number, number>> {
  const s = await c.status(id);
  return Object.fromEntries(s.groups.map((g) => [g.shard, g.term]));
}

describe('a cluster with API tokens and a cluster secret', () => {
  let wrongSecret = false;
  const cluster = useCluster({
    name: 'security',
    files: { 'tokens.json': tokensFile },
    security: { tokensFile: 'tokens.json', openRoutes: ['metrics'] },
    token: readWrite,
    nodeEnv: (id): Record<string, string> =>
      id === 'n3' && wrongSecret ? { RAFTKV_CLUSTER_SECRET: 'not-the-cluster-secret!' } : {},
  });
  const anonymous = { headers: { authorization: '' } };

  it('refuses requests without a token on every client route but health, readiness, the page and open routes', async () => {
    const c = cluster();
    for (const [method, path] of [
      ['GET', '/v1/kv/a'],
      ['PUT', '/v1/kv/a'],
      ['DELETE', '/v1/kv/a'],
      ['GET', '/v1/kv?prefix=a'],
      ['GET', '/v1/status'],
      ['GET', '/v1/cluster'],
      ['GET', '/v1/ui/state'],
      ['GET', '/v1/no-such-route'],
    ] as const) {
      const r = await c.request(method, path, anonymous);
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.json<ErrorBody>().error.code).toBe('unauthorized');
      expect(r.headers['www-authenticate']).toBe('Bearer realm="raftkv"');
    }
    const wrong = await c.get('a', { headers: { authorization: 'Bearer not-a-token-of-this-cluster' } });
    expect(wrong.status).toBe(401);
    expect(wrong.json<ErrorBody>().error.message).toMatch(/not known/);
    for (const path of ['/healthz', '/readyz', '/ui', '/metrics'])
      expect((await c.request('GET', path, anonymous)).status, path).toBe(200);
  });

  it('lets a read-only token read but not write, and a read-write token do both', async () => {
    const c = cluster();
    const ro = { headers: { authorization: `Bearer ${readOnly}` } };
    expect((await c.put('tok/a', 'one')).status).toBe(200);
    const read = await c.get('tok/a', ro);
    expect(read.status).toBe(200);
    expect(read.text()).toBe('one');
    expect((await c.request('GET', '/v1/kv?prefix=tok/', ro)).status).toBe(200);
    for (const r of [await c.put('tok/a', 'two', ro), await c.del('tok/a', ro)]) {
      expect(r.status).toBe(403);
      expect(r.json<ErrorBody>().error).toEqual({
        code: 'forbidden',
        message: 'token "viewer" is read-only',
      });
    }
    expect((await c.get('tok/a')).text()).toBe('one');
  });

  it('grants, renews and revokes leases only for a read-write token', async () => {
    const c = cluster();
    const ro = { headers: { authorization: `Bearer ${readOnly}` } };
    const refusals = [
      await c.request('POST', '/v1/leases', { ...ro, body: '{"ttlMs":5000}' }),
      await c.request('POST', '/v1/leases/000000abcdef/keepalive', ro),
      await c.request('DELETE', '/v1/leases/000000abcdef', ro),
    ];
    for (const r of refusals) expect([r.status, r.json<ErrorBody>().error.code]).toEqual([403, 'forbidden']);
    expect((await c.request('POST', '/v1/leases', { ...anonymous, body: '{"ttlMs":5000}' })).status).toBe(
      401,
    );
    const granted = await c.request('POST', '/v1/leases', { body: '{"ttlMs":5000}' });
    expect(granted.status).toBe(201);
    const { lease } = granted.json<{ lease: string }>();
    expect((await c.put('leased/a', 'x')).status).toBe(200);
    expect((await c.request('PUT', `/v1/kv/leased%2Fb?lease=${lease}`, { body: 'y' })).status).toBe(200);
    expect((await c.request('POST', `/v1/leases/${lease}/keepalive`)).status).toBe(200);
    expect((await c.request('DELETE', `/v1/leases/${lease}`)).status).toBe(204);
    expect((await c.get('leased/b')).status).toBe(404);
    expect((await c.get('leased/a')).status).toBe(200);
  });

  it('makes a backup only for a read-write token; the node collects the shards from their leaders', async () => {
    const c = cluster();
    const ro = { headers: { authorization: `Bearer ${readOnly}` } };
    for (const path of ['/v1/admin/backup', '/v1/admin/backup/shards/0']) {
      const refused = await c.request('GET', path, ro);
      expect([refused.status, refused.json<ErrorBody>().error.code], path).toEqual([403, 'forbidden']);
      expect((await c.request('GET', path, anonymous)).status, path).toBe(401);
    }
    expect((await c.put('backup/a', 'kept')).status).toBe(200);
    const out = join(c.dir, 'secured.backup');
    const endpoints = c.nodes.map((n) => n.api).join(',');
    const viewer = await runCli(['backup', '--out', out, '--endpoints', endpoints, '--token', readOnly]);
    expect([viewer.code, viewer.stderr]).toEqual([
      1,
      'raftkv: backup failed: forbidden (403): token "viewer" is read-only\n',
    ]);
    expect(existsSync(out)).toBe(false);
    const made = await runCli(['backup', '--out', out, '--endpoints', endpoints, '--token', readWrite]);
    expect([made.code, made.stderr]).toEqual([0, '']);
    expect(verifyBackup(out).manifest.parts.map((p) => p.shard)).toEqual([0, 1, 2]);
  });

  it("changes a shard's members only with a read-write token, carried to the leader and to the new replica", async () => {
    const c = cluster();
    const ro = { headers: { authorization: `Bearer ${readOnly}` } };
    const path = '/v1/admin/shards/0/members/n3';
    const refused = await c.request('DELETE', path, { ...ro, node: 'n1' });
    expect([refused.status, refused.json<ErrorBody>().error.code]).toEqual([403, 'forbidden']);
    const anonymous = await c.request('DELETE', path, { node: 'n1', headers: { authorization: '' } });
    expect(anonymous.status).toBe(401);
    const leader = await c.waitLeader(0);
    const via = c.ids.find((id) => id !== leader && id !== 'n3') ?? c.ids.find((id) => id !== leader)!;
    const removed = await c.request('DELETE', path, { node: via });
    expect([removed.status, removed.json<{ voters: string[] }>().voters.includes('n3')]).toEqual([
      200,
      false,
    ]);
    const added = await c.request('POST', '/v1/admin/shards/0/members', {
      node: via,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ node: 'n3', role: 'voter' }),
      timeoutMs: 10_000,
    });
    expect([added.status, added.json<{ voters: string[] }>().voters.includes('n3')]).toEqual([200, true]);
  });

  it("carries the caller's token when a node forwards to the shard leader", async () => {
    const c = cluster();
    for (let shard = 0; shard < c.shards; shard++) {
      const leader = await c.waitLeader(shard);
      const via = c.ids.find((id) => id !== leader)!;
      const key = keyOfShard(c, shard, 'fwd');
      const ok = await c.put(key, 'forwarded', { node: via });
      expect(ok.status).toBe(200);
      expect(ok.headers['x-raft-node']).toBe(leader);
      const ro = await c.put(key, 'x', { node: via, headers: { authorization: `Bearer ${readOnly}` } });
      expect(ro.status).toBe(403);
    }
  });

  it('gives the client library and the CLI typed refusals, and service with a token', async () => {
    const c = cluster();
    const endpoints = c.nodes.map((n) => n.api);
    const kv = new RaftKV({ endpoints, token: readWrite });
    const viewer = new RaftKV({ endpoints, token: readOnly });
    const stranger = new RaftKV({ endpoints });
    try {
      await kv.put('lib/a', 'v1');
      expect(new TextDecoder().decode((await viewer.get('lib/a'))?.value)).toBe('v1');
      await expect(viewer.put('lib/a', 'v2')).rejects.toMatchObject({ code: 'forbidden', status: 403 });
      const err = await stranger.get('lib/a').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RaftKVError);
      expect(err).toMatchObject({ code: 'unauthorized', status: 401, outcomeUnknown: false });
    } finally {
      await Promise.all([kv.close(), viewer.close(), stranger.close()]);
    }
    const api = endpoints.join(',');
    const put = await runCli(['put', 'cli/a', 'hello', '--endpoints', api, '--token', readWrite]);
    expect(put.code).toBe(0);
    const get = await runCli(['get', 'cli/a', '--endpoints', api, '--token', readOnly]);
    expect([get.code, get.stdout.trim()]).toEqual([0, 'hello']);
    const refused = await runCli(['get', 'cli/a', '--endpoints', api]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/API token/);
  });

  it.skipIf(!existsSync(chromiumPath))(
    'shows the dashboard to a browser given a token in the URL fragment, and says so without one',
    async () => {
      const c = cluster();
      const profile = mkdtempSync(join(tmpdir(), 'raftkv-chromium-'));
      const browser = await chromium.launchPersistentContext(profile, {
        executablePath: chromiumPath,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
      });
      try {
        let page = await browser.newPage();
        await page.goto(`${c.spec('n1').api}/ui`);
        await c.waitFor(async () => /needs an API token/.test((await page.textContent('#served')) ?? ''), {
          what: 'the page to say it needs a token',
        });
        await page.close();
        page = await browser.newPage();
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(`${c.spec('n1').api}/ui#token=${readOnly}`);
        await c.waitFor(async () => (await page.locator('[data-testid=node][data-up=true]').count()) === 3, {
          what: 'the page to show three nodes up',
        });
        // The token left the address bar; it is kept for this tab only.
        expect(page.url()).toBe(`${c.spec('n1').api}/ui`);
        expect(errors).toEqual([]);
      } finally {
        await browser.close();
        rmSync(profile, { recursive: true, force: true });
      }
    },
  );

  it('refuses forged peer requests with 401 and changes nothing', async () => {
    const c = cluster();
    const before = await terms(c, 'n1');
    const forged = encodeBatch({
      v: wireVersion,
      cluster: 'any',
      from: 'n2',
      msgs: c.ids
        .filter((id) => id !== 'n1')
        .flatMap((from) =>
          [0, 1, 2].map((group) => ({
            group,
            msg: {
              type: 'requestVote' as const,
              from,
              to: 'n1',
              term: 1_000_000,
              lastIndex: 1e9,
              lastTerm: 1_000_000,
              pre: false,
              transfer: true,
            },
          })),
        ),
    });
    const url = `${c.spec('n1').peer}${batchPath}`;
    const post = (mac?: string) =>
      request(url, {
        method: 'POST',
        body: forged,
        headers: { 'content-type': 'application/msgpack', ...(mac ? { [peerAuthHeader]: mac } : {}) },
      });
    for (const res of [
      await post(),
      await post(peerMac('a-guess-at-the-cluster-secret', batchPath, forged)),
      await post('0'.repeat(64)),
    ]) {
      expect(res.statusCode).toBe(401);
      expect(((await res.body.json()) as { error: string }).error).toMatch(
        /not signed with this cluster secret/,
      );
    }
    expect(await terms(c, 'n1')).toEqual(before);
    expect((await c.put('after-forgery', 'still fine', { node: 'n1' })).status).toBe(200);
    const log = c.logText('n1');
    expect(log.match(/refused peer request/g)?.length).toBe(1);
  });

  it('keeps a node with another secret out, and lets it back once it has the right one', async () => {
    const c = cluster();
    await c.term('n3');
    for (let shard = 0; shard < c.shards; shard++) await c.waitLeader(shard);
    const before = { n1: await terms(c, 'n1'), n2: await terms(c, 'n2') };
    wrongSecret = true;
    await c.start('n3');
    await c.waitFor(() => /peer refused our MAC/.test(c.logText('n3')), {
      what: 'n3 to log that its peers refuse its MAC',
    });
    await c.waitFor(() => /refused peer request/.test(c.logText('n2')), { what: 'n2 to log the refusal' });
    const keys = Array.from({ length: c.shards }, (_, s) => keyOfShard(c, s, 'outsider'));
    for (const key of keys)
      expect((await c.put(key, 'written while n3 was out', { node: 'n1' })).status).toBe(200);
    // n3 heard no leader, its elections moved no term, and it has none of the writes.
    const n3 = await c.status('n3');
    expect(n3.groups.map((g) => g.leader)).toEqual(n3.groups.map(() => null));
    expect({ n1: await terms(c, 'n1'), n2: await terms(c, 'n2') }).toEqual(before);
    for (const key of keys) expect((await c.get(key, { node: 'n3', stale: true })).status).toBe(404);

    await c.term('n3');
    wrongSecret = false;
    await c.start('n3');
    for (const key of keys) {
      await c.waitFor(
        async () => (await c.get(key, { node: 'n3', stale: true })).text() === 'written while n3 was out',
        {
          what: `n3 to catch up on ${key}`,
        },
      );
    }
  });
});

describe('a cluster on TLS, with mutual TLS between peers', () => {
  const pkiDir = mkdtempSync(join(tmpdir(), 'raftkv-pki-'));
  const pki = makePki(pkiDir, ['n1', 'n2', 'n3']);
  afterAll(() => rmSync(pkiDir, { recursive: true, force: true }));
  const cluster = useCluster({ name: 'tls', https: true, security: { tls: pki.files }, ca: pki.ca });

  it('serves the API over https, forwards over https, and the dashboard reaches every node', async () => {
    const c = cluster();
    expect(c.nodes.every((n) => n.api.startsWith('https://') && n.peer.startsWith('https://'))).toBe(true);
    for (let shard = 0; shard < c.shards; shard++) {
      const leader = await c.waitLeader(shard);
      const via = c.ids.find((id) => id !== leader)!;
      const key = keyOfShard(c, shard, 'tls');
      expect((await c.put(key, 'secret value', { node: via })).status).toBe(200);
      expect((await c.get(key, { node: via })).text()).toBe('secret value');
    }
    const view = (await c.request('GET', '/v1/ui/state')).json<{ nodes: { id: string; up: boolean }[] }>();
    expect(view.nodes.map((n) => [n.id, n.up])).toEqual([
      ['n1', true],
      ['n2', true],
      ['n3', true],
    ]);
  });

  it('gives the client library and the CLI the CA, and refuses plain http', async () => {
    const c = cluster();
    const endpoints = c.nodes.map((n) => n.api);
    const kv = new RaftKV({ endpoints, ca: pki.ca });
    try {
      await kv.put('tls/lib', 'over tls');
      expect(new TextDecoder().decode((await kv.get('tls/lib'))?.value)).toBe('over tls');
    } finally {
      await kv.close();
    }
    const cli = await runCli([
      'get',
      'tls/lib',
      '--endpoints',
      endpoints.join(','),
      '--ca',
      join(pkiDir, 'ca.crt'),
    ]);
    expect([cli.code, cli.stdout.trim()]).toEqual([0, 'over tls']);
    const untrusting = await runCli(['get', 'tls/lib', '--endpoints', endpoints.join(',')]);
    expect(untrusting.code).toBe(1);
    const plain = c.nodes[0]!.api.replace('https:', 'http:');
    await expect(request(`${plain}/healthz`, { headersTimeout: 2_000 })).rejects.toThrow();
  });

  it('accepts on the peer port only clients with a certificate the CA signed', async () => {
    const c = cluster();
    const body = encodeBatch({ v: wireVersion, cluster: 'x', from: 'n2', msgs: [] });
    const headers = {
      'content-type': 'application/msgpack',
      [peerAuthHeader]: peerMac('wrong', batchPath, body),
    };
    const post = async (connect: Agent.Options['connect']) => {
      const agent = new Agent({ connect });
      try {
        const res = await request(`${c.spec('n1').peer}${batchPath}`, {
          method: 'POST',
          body,
          headers,
          dispatcher: agent,
          headersTimeout: 3_000,
        });
        await res.body.dump();
        return res.statusCode;
      } catch (err) {
        return (err as { code?: string }).code ?? 'error';
      } finally {
        await agent.destroy();
      }
    };
    // Without a certificate or with one the CA never signed, TLS ends before HTTP starts.
    expect(await post({ ca: pki.ca })).not.toBeTypeOf('number');
    expect(await post({ ca: pki.ca, cert: pki.rogue.cert, key: pki.rogue.key })).not.toBeTypeOf('number');
    // With the CA's certificate the request reaches HTTP, where the MAC is still required.
    const cert = readFileSync(join(pkiDir, 'n2.crt'));
    const key = readFileSync(join(pkiDir, 'n2.key'));
    expect(await post({ ca: pki.ca, cert, key })).toBe(401);
  });
});
