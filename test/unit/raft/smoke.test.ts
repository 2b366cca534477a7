import { describe, expect, it } from 'vitest';
import { TestCluster } from './cluster.js';

describe('smoke', () => {
  it('three members elect a leader and commit a command on all', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    expect(c.leaderIds()).toEqual(['n1']);
    const res = c.propose('n1', 'x=1');
    expect(res).toEqual({ ok: true, index: 2, term: 1 });
    c.tickAll(2);
    for (const id of ['n1', 'n2', 'n3']) expect(c.appliedTexts(id)).toEqual(['x=1']);
  });
});
