import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContext, runInContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { fromJsonLine, toJsonLine } from './history.js';
import { op, read, write } from './history-builders.js';
import { countMembership } from './membership-plan.js';
import type { Fault } from './nemesis.js';
import { countOperations, findLostWrites, recoveryOf } from './report.js';
import { chooseKeys, nodeCrashes } from './round.js';
import { renderTimeline } from './timeline.js';

const finalClient = 99;

describe('the round report', () => {
  it('counts operations by kind, outcome and observation', () => {
    const c = countOperations([
      op(1, 0, 1, write('a'), { kind: 'written', version: '1' }),
      op(1, 2, 3, read, { kind: 'value', value: 'a', version: '1' }),
      op(2, 2, 3, read, null, 'fail'),
      op(2, 4, null, write('b'), null),
    ]);
    expect(c.write).toEqual({ ok: 1, fail: 0, info: 1, observed: { written: 1 } });
    expect(c.read).toEqual({ ok: 1, fail: 1, info: 0, observed: { value: 1 } });
  });

  it('finds an acknowledged write missing from the final read', () => {
    const h = [
      op(1, 0, 1, write('a'), { kind: 'written', version: '1' }),
      op(1, 2, 3, write('b'), { kind: 'written', version: '2' }),
      op(finalClient, 10, 11, read, { kind: 'value', value: 'a', version: '1' }),
    ];
    const lost = findLostWrites(h, finalClient);
    expect(lost.map((l) => [l.key, l.expected.length])).toEqual([['k', 1]]);
    expect(lost[0]!.expected[0]).toContain('write b @2');
  });

  it('accepts any of the last concurrent acknowledged writes, or an indeterminate one', () => {
    const concurrent = [
      op(1, 0, 5, write('a'), { kind: 'written', version: '1' }),
      op(2, 1, 4, write('b'), { kind: 'written', version: '2' }),
      op(finalClient, 10, 11, read, { kind: 'value', value: 'a', version: '1' }),
    ];
    expect(findLostWrites(concurrent, finalClient)).toEqual([]);
    const late = [
      op(1, 0, 1, write('a'), { kind: 'written', version: '1' }),
      op(2, 2, null, write('x'), null),
      op(finalClient, 10, 11, read, { kind: 'value', value: 'x', version: '5' }),
    ];
    expect(findLostWrites(late, finalClient)).toEqual([]);
    const deleted = [
      op(1, 0, 1, write('a'), { kind: 'written', version: '1' }),
      op(1, 2, 3, { f: 'delete' }, { kind: 'deleted' }),
      op(finalClient, 10, 11, read, { kind: 'absent' }),
    ];
    expect(findLostWrites(deleted, finalClient)).toEqual([]);
  });

  it('measures the time until writes succeed again on every shard', () => {
    const fault: Fault = {
      id: 1,
      kind: 'kill',
      variant: 'leader',
      description: 'kill n1',
      targets: ['n1'],
      cuts: [],
      start: 100,
      healBegan: 400,
      healed: 500,
    };
    const h = [
      op(1, 90, 150, write('a'), { kind: 'written', version: '1' }, 'ok', 'a'),
      op(1, 110, 300, write('b'), { kind: 'written', version: '2' }, 'ok', 'a'),
      op(2, 120, 250, write('c'), { kind: 'written', version: '3' }, 'ok', 'b'),
      op(2, 510, 530, write('d'), { kind: 'written', version: '4' }, 'ok', 'b'),
      op(1, 520, 560, write('e'), { kind: 'written', version: '5' }, 'ok', 'a'),
    ];
    const shardOf = (k: string) => (k === 'a' ? 0 : 1);
    expect(recoveryOf(fault, h, shardOf, 2)).toEqual({
      writesBackMs: 200,
      perShardMs: [200, 150],
      afterHealMs: 60,
    });
    expect(recoveryOf(fault, h, shardOf, 3).writesBackMs).toBe(null);
  });

  it('writes and reads history lines, indeterminate completions included', () => {
    const o = op(1, 0.5, null, write('a'), null);
    const line = toJsonLine({ ...o, gaveUp: 3000.25, note: 'TimeoutError', node: 'n2' });
    expect(line).toContain('"ret":null');
    expect(fromJsonLine(line)).toEqual({ ...o, gaveUp: 3000.25, note: 'TimeoutError', node: 'n2' });
  });

  it('spreads the keys evenly over the shards', () => {
    const keys = chooseKeys(9, (k) => Number(k.slice(1)) % 3, 3);
    expect(keys).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8']);
    const lopsided = chooseKeys(4, (k) => (Number(k.slice(1)) < 10 ? 0 : 1), 2);
    expect(lopsided).toEqual(['k0', 'k1', 'k10', 'k11']);
    expect(chooseKeys(2, (k) => Number(k.slice(-1)) % 2, 2, 'lease/live/')).toEqual([
      'lease/live/0',
      'lease/live/1',
    ]);
  });

  it('finds node processes that exited on their own with an error, with what they printed last', () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftkv-crashes-'));
    try {
      const line = (o: Record<string, unknown>) => `${JSON.stringify(o)}\n`;
      writeFileSync(
        join(dir, 'n1.log'),
        line({ time: 1_000, level: 30, node: 'n1', msg: 'serving' }) +
          "node:events:502\n      throw er; // Unhandled 'error' event\nError: read ECONNRESET\n" +
          line({ time: 15_790, harness: 'exited', node: 'n1', pid: 7, code: 1, msg: '--- exited ---' }) +
          line({ time: 16_000, harness: 'started', node: 'n1', pid: 8, msg: '--- started ---' }) +
          line({ time: 20_000, harness: 'exited', node: 'n1', pid: 8, code: -1, msg: '--- exited ---' }),
      );
      // Killed by the harness (-1) or stopped cleanly (0): not a crash.
      writeFileSync(
        join(dir, 'n2.log'),
        line({ time: 5_000, harness: 'exited', node: 'n2', pid: 9, code: 0, msg: '--- exited ---' }),
      );
      expect(nodeCrashes(dir, ['n1', 'n2', 'n3'], 1_000)).toEqual([
        "node n1 (pid 7) exited on its own with code 1 at 14.79 s: node:events:502 | throw er; // Unhandled 'error' event | Error: read ECONNRESET",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('renders a timeline page whose script draws every operation, fault and membership change', () => {
    const fault: Fault = {
      id: 1,
      kind: 'pause',
      variant: 'random',
      description: 'pause n2 (random node)',
      targets: ['n2'],
      cuts: [],
      start: 5,
      healBegan: 20,
      healed: 21,
    };
    const h = [
      op(0, 0, 4, write('a'), { kind: 'written', version: '1' }),
      op(1, 6, null, write('b'), null),
      op(finalClient, 30, 31, read, { kind: 'value', value: 'a', version: '1' }),
    ];
    const membership = {
      moves: [
        {
          id: 1,
          shard: 0,
          variant: 'same-node' as const,
          from: 'n3',
          to: 'n3',
          start: 2,
          there: 3,
          back: 9,
          abandoned: null,
          cutShort: false,
        },
      ],
      changes: [
        {
          id: 1,
          phase: 'move' as const,
          move: 1,
          shard: 0,
          type: 'remove' as const,
          node: 'n3',
          via: 'n1',
          start: 2,
          end: 3,
          outcome: 'ok' as const,
          status: 200,
          detail: '',
          after: { voters: ['n1', 'n2'], learners: [] },
          effect: null,
        },
      ],
      original: [['n1', 'n2', 'n3']],
    };
    const html = renderTimeline({
      title: 'a <round>',
      summary: 'VALID',
      history: h,
      faults: [fault],
      membership: { ...membership, counts: countMembership(membership.moves, membership.changes) },
      clientNames: new Map([[finalClient, 'final']]),
    });
    expect(html).toContain('<title>a &lt;round&gt;</title>');
    const script = html.slice(html.indexOf('<script>') + 8, html.indexOf('</script>'));
    const rects: number[][] = [];
    const texts: string[] = [];
    const ctx = {
      fillRect: (...a: number[]) => rects.push(a),
      fillText: (t: string) => texts.push(t),
      fillStyle: '',
      font: '',
    };
    const element = () => ({
      clientWidth: 1000,
      value: '0',
      style: {},
      width: 0,
      height: 0,
      getContext: () => ctx,
      addEventListener: () => {},
      getBoundingClientRect: () => ({ left: 0, top: 0 }),
      appendChild: () => {},
    });
    const elements = new Map<string, ReturnType<typeof element>>();
    const sandbox = {
      document: {
        getElementById: (id: string) => elements.get(id) ?? elements.set(id, element()).get(id),
        createElement: () => ({}),
        createTextNode: (t: string) => t,
      },
      window: { addEventListener: () => {} },
    };
    const context = createContext(sandbox);
    // Browsers have unforgeable globals such as `top` that a page's script must not redeclare.
    runInContext(
      "for (const g of ['top', 'parent', 'self', 'frames']) Object.defineProperty(globalThis, g, { value: null, configurable: false });",
      context,
    );
    runInContext(script, context);
    expect(texts).toEqual(
      expect.arrayContaining(['#1 pause n2 (random node)', 'members', 'client 0', 'client 1', 'final']),
    );
    // Background, one fault band, a move band and a change bar, 3 operation bars, plus the axis ticks.
    expect(rects.length).toBeGreaterThanOrEqual(7);
  });
});
