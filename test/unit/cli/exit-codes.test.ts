/**
 * The command line's exit codes, as scripts see them: the real executable (src/cli.ts) against a
 * one-node cluster listening on a loopback port. 0 done, 1 refused or failed, 2 usage, 3 not found.
 */

import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../../src/api/build-api.js';
import { exitCodes } from '../../../src/cli/exit-codes.js';
import { parseClusterConfig } from '../../../src/config/cluster-file.js';
import { RaftKVNode } from '../../../src/node/index.js';
import { MemoryStore } from '../../../src/storage/memory-store.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs the CLI to its exit; resolves its exit code and what it printed. */
function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', ...args],
      { cwd: repo, timeout: 30_000, env: { ...process.env, RAFTKV_ENDPOINTS: endpoint } },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr }),
    );
  });
}

let endpoint = '';
let close = async () => {};

beforeAll(async () => {
  const port = await freePort();
  endpoint = `http://127.0.0.1:${port}`;
  const config = parseClusterConfig({
    nodes: [{ id: 'n1', api: endpoint, peer: 'http://127.0.0.1:1' }],
    shards: 1,
    replicas: 1,
    tickMs: 5,
  });
  const log = pino({ level: 'silent' });
  const node = await RaftKVNode.start({
    config,
    id: 'n1',
    store: new MemoryStore(),
    transport: () => ({ send() {}, async close() {} }),
    log,
    onFatal: (err) => {
      throw err;
    },
  });
  const app = buildApi({ node, log });
  await app.listen({ port, host: '127.0.0.1' });
  close = async () => {
    await app.close();
    await node.shutdown();
  };
});

afterAll(() => close());

describe('raftkv exit codes', () => {
  it('0 for a write and a read that worked', async () => {
    expect((await cli(['put', 'exit/a', 'one'])).code).toBe(exitCodes.ok);
    const got = await cli(['get', 'exit/a']);
    expect([got.code, got.stdout.trim()]).toEqual([exitCodes.ok, 'one']);
  });

  it('3 for a key that does not exist, on get and del', async () => {
    expect((await cli(['get', 'exit/absent'])).code).toBe(3);
    expect((await cli(['del', 'exit/absent'])).code).toBe(3);
  });

  it('1 when a condition does not hold, with the reason on stderr', async () => {
    await cli(['put', 'exit/b', 'one']);
    const refused = await cli(['put', 'exit/b', 'two', '--if-absent']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('precondition_failed');
    expect((await cli(['get', 'exit/b'])).stdout.trim()).toBe('one');
  });

  it('1 when no node answers', async () => {
    const none = await cli(['get', 'exit/a', '--endpoints', 'http://127.0.0.1:1']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('unreachable');
  });

  it('2 for an unknown command, a missing argument or a bad flag value; 0 for --help', async () => {
    expect((await cli(['bogus'])).code).toBe(2);
    expect((await cli(['get'])).code).toBe(2);
    expect((await cli(['list', '--limit', '0'])).code).toBe(2);
    expect((await cli(['--help'])).code).toBe(0);
  });
});
