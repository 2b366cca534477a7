/**
 * The partition machinery on its own: namespaces that reach each other and the test process, cuts
 * that drop exactly the chosen links both ways, heals that restore them, and the clean-up of what
 * a killed run left behind. Skipped (with the reason) where namespaces cannot be made.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, waitFor } from '../../harness/index.js';
import { cleanupLeftovers, NetLab, netnsSupport, processStart, Slot } from './netns.js';

const net = netnsSupport();
const port = 7999;

/** Inside a namespace: listens on `addr`, and answers "probe HOST" lines with ok/timeout/<error>. */
const agentSource = `
const net = require('node:net');
const rl = require('node:readline').createInterface({ input: process.stdin });
net.createServer((s) => s.end()).listen(${port}, process.argv[1], () => console.log('ready'));
rl.on('line', (line) => {
  const host = line.split(' ')[1];
  const s = net.connect(${port}, host);
  const done = (r) => { clearTimeout(t); s.destroy(); console.log(host + ' ' + r); };
  const t = setTimeout(() => done('timeout'), 1500);
  s.once('connect', () => done('ok'));
  s.once('error', (e) => done(e.code));
});`;

class Agent {
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiters: (() => void)[] = [];

  constructor(ns: string, addr: string) {
    this.#child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', agentSource, addr], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    createInterface({ input: this.#child.stdout! }).on('line', (l) => {
      this.#lines.push(l);
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  async next(): Promise<string> {
    const deadline = Date.now() + 30_000;
    while (this.#lines.length === 0) {
      if (Date.now() > deadline) throw new Error('agent did not answer');
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 500);
      });
    }
    return this.#lines.shift()!;
  }

  async probe(addr: string): Promise<string> {
    this.#child.stdin!.write(`probe ${addr}\n`);
    return (await this.next()).split(' ')[1]!;
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }
}

/** Connects from the test process (root namespace). */
function probeFromRoot(addr: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, addr);
    const done = (r: string) => {
      clearTimeout(t);
      s.destroy();
      resolve(r);
    };
    const t = setTimeout(() => done('timeout'), 1_500);
    s.once('connect', () => done('ok'));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'));
  });
}

const namespaces = () =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n !== '');
const links = () =>
  execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n !== '');

describe.skipIf(!net.ok)(
  `network namespaces for partitions${net.ok ? '' : ` — skipped: ${net.reason}`}`,
  () => {
    const agents: Agent[] = [];
    afterAll(() => {
      for (const a of agents) a.kill();
    });

    it('cuts exactly the chosen links, both ways, keeps the test process connected, and heals', async () => {
      const slot = Slot.acquire();
      const lab = NetLab.create(slot, ['n1', 'n2', 'n3']);
      try {
        const [a1, a2, a3] = lab.nodes.map((n) => new Agent(n.ns, n.addr)) as [Agent, Agent, Agent];
        agents.push(a1, a2, a3);
        for (const a of [a1, a2, a3]) expect(await a.next()).toBe('ready');
        const addr = (id: string) => lab.node(id).addr;

        expect(await a1.probe(addr('n2'))).toBe('ok');
        lab.setCuts([['n1', 'n2']]);
        expect(lab.cuts()).toEqual(['n1-n2']);
        expect(await a1.probe(addr('n2'))).toBe('timeout');
        expect(await a2.probe(addr('n1'))).toBe('timeout');
        expect(await a1.probe(addr('n3'))).toBe('ok');
        expect(await a3.probe(addr('n2'))).toBe('ok');
        expect(await probeFromRoot(addr('n1'))).toBe('ok');
        expect(await probeFromRoot(addr('n2'))).toBe('ok');

        lab.setCuts([['n3', 'n1']]);
        expect(lab.cuts()).toEqual(['n1-n3']);
        expect(await a1.probe(addr('n2'))).toBe('ok');
        expect(await a3.probe(addr('n1'))).toBe('timeout');

        lab.heal();
        expect(lab.cuts()).toEqual([]);
        expect(await a1.probe(addr('n3'))).toBe('ok');
        expect(await a3.probe(addr('n1'))).toBe('ok');
      } finally {
        for (const a of agents.splice(0)) a.kill();
        lab.destroy();
        slot.release();
      }
      const prefix = `rkj${String(slot.n).padStart(2, '0')}`;
      expect(namespaces().filter((n) => n.startsWith(prefix))).toEqual([]);
      expect(links()).not.toContain(`${prefix}br`);
    }, 120_000);

    it('removes the namespaces, links and processes of a run that was killed', async () => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(repoRoot, 'test/lin/fixtures/crashed-run.ts')],
        {
          cwd: repoRoot,
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`the crashed-run fixture exited early (${code})`)));
      });
      const made = JSON.parse(line) as { slot: number; pid: number; namespaces: string[] };
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      expect(namespaces()).toEqual(expect.arrayContaining(made.namespaces));
      expect(processStart(made.pid)).not.toBe(null);

      const done = cleanupLeftovers();
      expect(done).toEqual(expect.arrayContaining([`killed leftover node process ${made.pid}`]));
      const prefix = `rkj${String(made.slot).padStart(2, '0')}`;
      expect(namespaces().filter((n) => n.startsWith(prefix))).toEqual([]);
      expect(links()).not.toContain(`${prefix}br`);
      // The process was SIGKILLed; the kernel reaps it soon after.
      await waitFor(() => processStart(made.pid) === null, {
        timeoutMs: 5_000,
        intervalMs: 50,
        what: `the leftover process ${made.pid} to be gone`,
      });
    }, 60_000);
  },
);
