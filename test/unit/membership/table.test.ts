/**
 * The node table as replicated state (src/membership/table.ts): every command's effect on nodes,
 * placement and epoch, one test per rule; a refused command changes nothing.
 */

import { describe, expect, it } from 'vitest';
import { encodeMembershipCommand, MembershipMachine } from '../../../src/membership/machine.js';
import {
  applyMembership,
  emptyMembership,
  type MembershipCommand,
  type MembershipState,
} from '../../../src/membership/table.js';

const node = (id: string, port: number) => ({ id, api: `http://h:${port}`, peer: `http://h:${port + 100}` });
const boot: MembershipCommand = {
  op: 'bootstrap',
  nodes: [
    { ...node('n1', 1), state: 'active' },
    { ...node('n2', 2), state: 'active' },
  ],
  shards: [{ voters: ['n1', 'n2'], learners: [], leader: 'n1' }],
};

function run(...cmds: MembershipCommand[]): { state: MembershipState; results: unknown[] } {
  let state = emptyMembership;
  const results: unknown[] = [];
  for (const c of cmds) {
    const r = applyMembership(state, c);
    state = r.state;
    results.push(r.result);
  }
  return { state, results };
}

describe('the node table', () => {
  it('is written once by bootstrap (epoch 1); a second bootstrap changes nothing', () => {
    const { state, results } = run(boot, { ...boot, nodes: [] });
    expect(state.epoch).toBe(1);
    expect(state.nodes.map((n) => n.id)).toEqual(['n1', 'n2']);
    expect(results[1]).toEqual({ ok: true, epoch: 1 });
  });

  it('refuses every other command before bootstrap', () => {
    const { state, results } = run({ op: 'addNode', node: node('n3', 3) });
    expect(state).toBe(emptyMembership);
    expect(results[0]).toEqual({ ok: false, reason: 'the cluster has not written its first membership yet' });
  });

  it('adds a node as joining and raises the epoch; the same join again is a no-op', () => {
    const { state, results } = run(
      boot,
      { op: 'addNode', node: { ...node('n3', 3), incarnation: 'a' } },
      {
        op: 'addNode',
        node: { ...node('n3', 3), incarnation: 'a' },
      },
    );
    expect(state.nodes.find((n) => n.id === 'n3')).toEqual({
      ...node('n3', 3),
      state: 'joining',
      incarnation: 'a',
    });
    expect(results.slice(1)).toEqual([
      { ok: true, epoch: 2 },
      { ok: true, epoch: 2 },
    ]);
  });

  it('refuses a taken id (other addresses or another incarnation) and an address in use', () => {
    const { state, results } = run(
      boot,
      { op: 'addNode', node: node('n2', 9) },
      { op: 'addNode', node: { ...node('n2', 2), incarnation: 'wiped' } },
      { op: 'addNode', node: { ...node('n3', 3), api: 'http://h:1' } },
    );
    expect(state.epoch).toBe(1);
    expect(results[1]).toMatchObject({ ok: false, reason: expect.stringContaining('node id n2 is taken') });
    expect(results[2]).toMatchObject({
      ok: false,
      reason: expect.stringContaining('node remove n2 --force'),
    });
    expect(results[3]).toEqual({ ok: false, reason: 'node n1 already uses http://h:1' });
  });

  it('sets a state (epoch +1), a state already set is a no-op, an unknown node is refused', () => {
    const { state, results } = run(
      boot,
      { op: 'setState', id: 'n2', state: 'leaving' },
      { op: 'setState', id: 'n2', state: 'leaving' },
      { op: 'setState', id: 'n9', state: 'active' },
    );
    expect(state.nodes.find((n) => n.id === 'n2')?.state).toBe('leaving');
    expect(results.slice(1)).toEqual([
      { ok: true, epoch: 2 },
      { ok: true, epoch: 2 },
      { ok: false, reason: 'node n9 is not a member' },
    ]);
  });

  it('removes a node; removing it again is refused', () => {
    const { state, results } = run(boot, { op: 'removeNode', id: 'n2' }, { op: 'removeNode', id: 'n2' });
    expect(state.nodes.map((n) => n.id)).toEqual(['n1']);
    expect(results[2]).toEqual({ ok: false, reason: 'node n2 is not a member' });
  });

  it('places a shard (epoch +1 only when it changes); an unknown shard is refused', () => {
    const p = { voters: ['n2', 'n1'], learners: ['n3'], leader: 'n2' };
    const { state, results } = run(
      boot,
      { op: 'place', shard: 0, placement: p },
      { op: 'place', shard: 0, placement: p },
      { op: 'place', shard: 1, placement: p },
    );
    expect(state.shards[0]).toEqual(p);
    expect(results.slice(1)).toEqual([
      { ok: true, epoch: 2 },
      { ok: true, epoch: 2 },
      { ok: false, reason: 'shard 1 does not exist' },
    ]);
  });

  it('survives a snapshot: the machine restored from its bytes has the same state', () => {
    const m = new MembershipMachine();
    m.apply(1, encodeMembershipCommand(boot));
    m.apply(2, encodeMembershipCommand({ op: 'addNode', node: node('n3', 3) }));
    expect(MembershipMachine.restore(m.snapshot()).state).toEqual(m.state);
    expect(m.apply(3, new TextEncoder().encode('not json'))).toEqual({
      ok: false,
      reason: 'not a membership command',
    });
  });
});
