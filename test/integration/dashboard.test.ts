/**
 * The dashboard (/ui) in a real headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core): it shows every node and shard with its leader; after SIGKILL of a shard's
 * leader under a steady writer it shows the node down, the new leader and a failover with its
 * measured unavailability window; after the node's restart, leadership handed back. Screenshots
 * are kept in test-artifacts/. Skipped, saying why, where Chromium is not installed.
 */

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, sleep } from '../../harness/index.js';
import { RaftKV } from '../../src/client/index.js';
import { useCluster } from './harness.js';

const chromiumPath = '/usr/bin/chromium';
const haveChromium = existsSync(chromiumPath);
const artifacts = join(repoRoot, 'test-artifacts');
if (!haveChromium) {
  console.warn(
    `[dashboard] SKIPPED: ${chromiumPath} is missing; install it with \`apt-get install -y chromium\` (.ci/run does)`,
  );
}

/** Attributes of the elements matching `selector`, read in the page. */
async function attrsOf(page: Page, selector: string): Promise<Record<string, string>[]> {
  return page.locator(selector).evaluateAll((els) =>
    els.map((el) => {
      const out: Record<string, string> = {};
      for (const a of (el as unknown as { attributes: Iterable<{ name: string; value: string }> }).attributes)
        out[a.name] = a.value;
      return out;
    }),
  );
}

describe.skipIf(!haveChromium)('dashboard /ui in headless Chromium', () => {
  const cluster = useCluster({ name: 'dashboard' });
  let context: BrowserContext | null = null;
  let profileDir = '';

  beforeAll(async () => {
    profileDir = mkdtempSync(join(tmpdir(), 'raftkv-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--no-first-run',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
      ],
    });
  });

  afterAll(async () => {
    await context?.close();
    rmSync(profileDir, { recursive: true, force: true });
  });

  it('shows nodes, shards and leaders, then a failover with its window and the leader’s return', async () => {
    const cl = cluster();
    const leaders = await cl.waitBalanced();
    const shard = 0;
    const victim = leaders[shard]!;
    const viewer = cl.ids.find((id) => id !== victim)!;
    const page = await context!.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${cl.spec(viewer).api}/ui`);

    const shardLeaders = async () =>
      (await attrsOf(page, '[data-testid=shard]')).map((a) => [a['data-shard'], a['data-leader']]);
    const nodesUp = async () =>
      (await attrsOf(page, '[data-testid=node]')).map((a) => [a['data-node'], a['data-up']]);
    /** The Writes/s column of the shard table, as shown. */
    const writeRates = () => page.locator('[data-testid=shard] td:nth-child(4)').allTextContents();
    await cl.waitFor(async () => (await shardLeaders()).length === 3, { what: 'the page to show 3 shards' });
    expect(await nodesUp()).toEqual([
      ['n1', 'true'],
      ['n2', 'true'],
      ['n3', 'true'],
    ]);
    expect(await shardLeaders()).toEqual(leaders.map((l, s) => [String(s), l]));

    // One writer per shard through the client library (straight to leaders, retrying), ~50 writes/s each.
    const kv = new RaftKV({
      endpoints: cl.ids.filter((id) => id !== victim).map((id) => cl.spec(id).api),
      attemptTimeoutMs: 2_000,
    });
    let stop = false;
    const written = [0, 0, 0];
    const writers = [0, 1, 2].map(async (s) => {
      const keys = cl.keysOfShard(s, 50, `dash/${s}/`);
      const deadline = Date.now() + 90_000;
      for (let i = 0; !stop && Date.now() < deadline; i++) {
        try {
          await kv.put(keys[i % keys.length]!, `value ${i}`);
          written[s]!++;
        } catch {
          // Counted by the page, not here: a write that failed is simply not applied.
        }
        await sleep(20);
      }
    });

    try {
      await cl.waitFor(() => written.every((n) => n >= 40), {
        what: 'writes on every shard before the kill',
      });
      await cl.kill(victim);
      const newLeader = await cl.waitFor(
        async () => {
          const row = (await shardLeaders()).find(([s]) => s === String(shard));
          return row?.[1] !== undefined && row[1] !== '' && row[1] !== victim ? row[1] : null;
        },
        { timeoutMs: 15_000, what: `the page to show a new leader of shard ${shard}` },
      );
      const failover = await cl.waitFor(
        async () =>
          (await attrsOf(page, '[data-testid=change][data-kind=failover][data-window=measured]')).find(
            (a) => a['data-shard'] === String(shard) && a['data-from'] === victim,
          ),
        { timeoutMs: 15_000, what: `a measured failover of shard ${shard} on the page` },
      );
      expect(failover['data-to']).toBe(newLeader);
      expect((await nodesUp()).find(([id]) => id === victim)).toEqual([victim, 'false']);
      const windowMs = Number(failover['data-window-ms']);
      expect(windowMs).toBeGreaterThan(0);
      expect(windowMs).toBeLessThan(5_000);
      // The rates show the writers after the failover: writes/s above zero on every shard, the
      // failed-over one led by its new leader.
      await cl.waitFor(
        async () => {
          const rows = await shardLeaders();
          const rates = (await writeRates()).map(Number.parseFloat);
          return (
            rows.find(([s]) => s === String(shard))?.[1] === newLeader &&
            rates.length === 3 &&
            rates.every((r) => r > 0)
          );
        },
        {
          timeoutMs: 15_000,
          what: `the page to show writes/s on every shard, shard ${shard} led by ${newLeader}`,
        },
      );
      mkdirSync(artifacts, { recursive: true });
      const shot = join(artifacts, 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(
        `[dashboard] shard ${shard}: ${victim} killed, new leader ${newLeader}; the page shows a failover ` +
          `window of ${windowMs} ms (term ${failover['data-term']}); screenshot: ${shot}`,
      );

      // The node comes back and gets its shard back: a transfer, also measured.
      await cl.start(victim);
      await cl.waitFor(
        async () =>
          (await nodesUp()).every(([, up]) => up === 'true') &&
          (await shardLeaders()).find(([s]) => s === String(shard))?.[1] === victim,
        { timeoutMs: 30_000, what: `the page to show ${victim} up and leading shard ${shard} again` },
      );
      const back = await cl.waitFor(
        async () =>
          (await attrsOf(page, '[data-testid=change][data-kind=transfer]')).find(
            (a) =>
              a['data-shard'] === String(shard) && a['data-to'] === victim && a['data-window'] !== 'open',
          ),
        { timeoutMs: 15_000, what: `the hand-back of shard ${shard} to ${victim} on the page` },
      );
      const shot2 = join(artifacts, 'dashboard-restarted.png');
      await page.screenshot({ path: shot2, fullPage: true });
      console.log(
        `[dashboard] ${victim} restarted; shard ${shard} handed back to it (transfer, window ` +
          `${back['data-window-ms'] ?? back['data-window']} ms); screenshot: ${shot2}`,
      );
      expect(pageErrors).toEqual([]);
    } finally {
      stop = true;
      await Promise.all(writers);
      await kv.close();
      await page.close();
    }
  });

  it('follows the changes under a prefix live, newest first', async () => {
    const cl = cluster();
    const viewer = cl.running()[0]!;
    const page = await context!.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${cl.spec(viewer).api}/ui`);
    await page.fill('#tail-prefix', 'tail/');
    await page.click('#tail-form button');
    await cl.waitFor(async () => (await page.textContent('#tail-note')) === 'following tail/', {
      what: 'the page to follow tail/',
    });
    const kv = new RaftKV({ endpoints: cl.running().map((id) => cl.spec(id).api) });
    try {
      for (let i = 0; i < 5; i++) await kv.put(`tail/${i}`, `value ${i}`);
      await kv.delete('tail/0');
      await kv.put('elsewhere', 'not followed');
      const rows = () => page.locator('#tail tr td:nth-child(3)').allTextContents();
      await cl.waitFor(async () => (await rows()).length === 6, { what: 'six changes on the page' });
      const types = await page.locator('#tail tr td:nth-child(2)').allTextContents();
      const shown = (await rows()).map((key, i) => `${types[i]} ${key}`);
      // Newest first. Changes of one shard come in commit order; across shards there is no order
      // (a shard this node follows may apply a write after another shard's later one).
      const written = ['put tail/0', 'put tail/1', 'put tail/2', 'put tail/3', 'put tail/4', 'delete tail/0'];
      expect([...shown].sort()).toEqual([...written].sort());
      for (const shard of new Set(written.map((w) => cl.shardOf(w.split(' ')[1]!)))) {
        const ofShard = (list: string[]) => list.filter((w) => cl.shardOf(w.split(' ')[1]!) === shard);
        expect([...ofShard(shown)].reverse(), `shard ${shard}`).toEqual(ofShard(written));
      }
      expect(pageErrors).toEqual([]);
    } finally {
      await kv.close();
      await page.close();
    }
  });
});
