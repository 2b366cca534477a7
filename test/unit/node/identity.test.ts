/**
 * A data directory's incarnation and the claim a new one makes with every other node
 * (src/node/identity.ts): what each node answers, and what the claimant concludes.
 */

import { describe, expect, it } from 'vitest';
import { parseClusterConfig } from '../../../src/config/cluster-file.js';
import { checkIdentity, claimOwnIdentity, PeerIdentities, StartupError } from '../../../src/node/identity.js';
import { MemoryStore } from '../../../src/storage/memory-store.js';
import type { ClaimAnswer } from '../../../src/transport/wire.js';

const config = parseClusterConfig({
  clusterId: 'c1',
  nodes: ['n1', 'n2', 'n3'].map((id, i) => ({
    id,
    api: `http://127.0.0.1:${18001 + i}`,
    peer: `http://127.0.0.1:${18101 + i}`,
  })),
  shards: 2,
  replicas: 3,
});

describe('the identity of a data directory', () => {
  it('a new directory draws a random incarnation and starts unclaimed; a restart keeps both', async () => {
    const store = new MemoryStore();
    const first = await checkIdentity(store, config, 'n1');
    expect(first.identity).toMatchObject({ clusterId: 'c1', nodeId: 'n1', start: 'unclaimed' });
    expect(first.identity.incarnation).toMatch(/^[0-9a-f]{16}$/);
    const again = await checkIdentity(store, config, 'n1');
    expect(again.identity).toEqual(first.identity);
    const other = await checkIdentity(new MemoryStore(), config, 'n1');
    expect(other.identity.incarnation).not.toBe(first.identity.incarnation);
  });

  it('a directory from before incarnations gets one, counts as a member, and pins no peer to a real incarnation', async () => {
    const store = new MemoryStore();
    await store.setIdentity({ clusterId: 'c1', nodeId: 'n1', format: 1, incarnation: '', start: 'member' });
    const { identity, format } = await checkIdentity(store, config, 'n1');
    expect({ start: identity.start, format, drawn: /^[0-9a-f]{16}$/.test(identity.incarnation) }).toEqual({
      start: 'member',
      format: 1,
      drawn: true,
    });
    const identities = await PeerIdentities.load(store);
    // n2 was a member before the upgrade: whatever incarnation it claims, it is not the one confirmed.
    expect(await identities.answer('n2', 'feedfeedfeedfeed', () => true)).toBe('taken');
    expect(await identities.answer('n3', 'feedfeedfeedfeed', () => false)).toBe('rejoin');
  });
});

describe('answering a claim', () => {
  it('confirms an incarnation never seen (new), then the same one again (same)', async () => {
    const store = new MemoryStore();
    const identities = await PeerIdentities.load(store);
    expect(await identities.answer('n2', 'aaaa', () => true)).toBe('new');
    expect(await identities.answer('n2', 'aaaa', () => true)).toBe('same');
    expect(new Map(await store.pins())).toEqual(new Map([['n2', 'aaaa']]));
  });

  it('refuses another incarnation of a node that is still a member (taken), and keeps the old pin', async () => {
    const store = new MemoryStore();
    const identities = await PeerIdentities.load(store);
    await identities.answer('n2', 'aaaa', () => true);
    expect(await identities.answer('n2', 'bbbb', () => true)).toBe('taken');
    expect(new Map(await store.pins())).toEqual(new Map([['n2', 'aaaa']]));
  });

  it('confirms another incarnation of a node that is no member any more (rejoin), durably', async () => {
    const store = new MemoryStore();
    const identities = await PeerIdentities.load(store);
    await identities.answer('n2', 'aaaa', () => true);
    expect(await identities.answer('n2', 'bbbb', () => false)).toBe('rejoin');
    const reloaded = await PeerIdentities.load(store.crash());
    expect(await reloaded.answer('n2', 'bbbb', () => true)).toBe('same');
  });
});

describe('claiming a new directory', () => {
  const claim = (answers: Record<string, (ClaimAnswer | null)[]>) => {
    const asked: string[] = [];
    const waited: string[][] = [];
    let pauses = 0;
    const run = claimOwnIdentity({
      self: 'n1',
      incarnation: 'aaaa',
      peers: Object.keys(answers),
      ask: async (peer) => {
        asked.push(peer);
        return answers[peer]!.shift() ?? null;
      },
      pause: async () => {
        pauses++;
      },
      waiting: (peers) => waited.push([...peers]),
    });
    return { run, asked, waited, pauses: () => pauses };
  };

  it('bootstraps when every other node confirmed a new incarnation', async () => {
    const c = claim({ n2: ['new'], n3: ['same'] });
    expect(await c.run).toBe('bootstrap');
  });

  it('starts as a new member when one node knew an earlier, removed incarnation', async () => {
    const c = claim({ n2: ['rejoin'], n3: ['same'] });
    expect(await c.run).toBe('member');
  });

  it('waits for a node that does not answer, says so once, and asks only it again', async () => {
    const c = claim({ n2: ['new'], n3: [null, null, 'new'] });
    expect(await c.run).toBe('bootstrap');
    expect({ asked: c.asked, waited: c.waited, pauses: c.pauses() }).toEqual({
      asked: ['n2', 'n3', 'n3', 'n3'],
      waited: [['n3']],
      pauses: 2,
    });
  });

  it('refuses to start, with what to do, when a node still counts it a member', async () => {
    const c = claim({ n2: ['taken'], n3: ['taken'] });
    await expect(c.run).rejects.toThrow(StartupError);
    await expect(claim({ n2: ['taken'], n3: ['new'] }).run).rejects.toThrow(
      /^node n1 is still a member of the cluster \(so says n2\), but this data directory is new: .*raftkv node remove n1 --force .*DELETE \/v1\/admin\/shards\/\{shard\}\/members\/n1\)/,
    );
  });
});
