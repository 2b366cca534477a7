/**
 * The group observer: leader changes and the unavailability window each one caused (last write
 * applied before the leader was lost → first write of the new term applied after), transfers,
 * idle changes, rates per second, and the events it hands to metrics.
 */

import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { GroupObserver, idleAfterMs, RateCounter } from '../../../src/node/observer.js';
import type { Entry, SoftState } from '../../../src/raft/types.js';

const silent = pino({ level: 'silent' });

function setup(self = 'n2') {
  let nowMs = 1_000_000;
  const events: string[] = [];
  const o = new GroupObserver(0, self, silent, () => nowMs);
  o.attach({
    leaderChanged: (kind) => events.push(`leader:${kind}`),
    windowMeasured: (ms) => events.push(`window:${ms}`),
    snapshotTaken: (bytes) => events.push(`taken:${bytes}`),
    snapshotInstalled: (bytes) => events.push(`installed:${bytes}`),
  });
  const at = (ms: number) => {
    nowMs = 1_000_000 + ms;
  };
  const soft = (role: SoftState['role'], leader: string | null, term: number) =>
    o.observe({ role, leader, term }, []);
  let index = 0;
  const write = (term: number, kind: Entry['kind'] = 'command') =>
    o.observe(null, [{ index: ++index, term, kind, data: new Uint8Array(1) }]);
  return { o, at, soft, write, events };
}

describe('GroupObserver', () => {
  it('measures a failover from the last write before the loss to the first write of the new term', () => {
    const { o, at, soft, write, events } = setup();
    at(0);
    soft('follower', 'n1', 1);
    at(100);
    write(1);
    at(500);
    write(1); // the last write before n1 dies
    at(1_300);
    soft('preCandidate', null, 1); // election timeout: n1 is lost
    at(1_350);
    soft('candidate', null, 2);
    at(1_360);
    soft('leader', 'n2', 2);
    at(1_400);
    write(2, 'noop');
    write(1); // an old-term entry committed by the new leader is not a write "after"
    at(1_450);
    write(2);

    const [initial, failover] = o.activity().leaderChanges;
    expect(initial).toMatchObject({ kind: 'initial', from: null, to: 'n1', term: 1, window: 'idle' });
    expect(failover).toEqual({
      shard: 0,
      observer: 'n2',
      term: 2,
      from: 'n1',
      to: 'n2',
      kind: 'failover',
      detection: 'election timeout',
      lostAtMs: 1_001_300,
      electedAtMs: 1_001_360,
      lastWriteBeforeMs: 1_000_500,
      firstWriteAfterMs: 1_001_450,
      windowMs: 950,
      window: 'measured',
    });
    expect(events).toEqual(['leader:initial', 'leader:failover', 'window:950']);
  });

  it('takes the last write before the loss, not old-term writes applied after it', () => {
    const { o, at, soft, write } = setup();
    soft('follower', 'n1', 1);
    at(200);
    write(1);
    at(900);
    soft('follower', null, 2);
    at(1_000);
    soft('follower', 'n3', 2);
    at(1_100);
    write(1);
    at(1_250);
    write(2);
    const change = o.activity().leaderChanges.at(-1)!;
    expect(change).toMatchObject({ from: 'n1', to: 'n3', window: 'measured', lastWriteBeforeMs: 1_000_200 });
    expect(change.windowMs).toBe(1_050);
  });

  it('calls a leader change right after TimeoutNow a transfer', () => {
    const { o, at, soft, write } = setup('n1');
    soft('follower', 'n2', 1);
    write(1);
    at(10);
    o.transferNoted();
    soft('candidate', null, 2);
    at(30);
    soft('leader', 'n1', 2);
    at(40);
    write(2);
    expect(o.activity().leaderChanges.at(-1)).toMatchObject({
      kind: 'transfer',
      detection: 'handover',
      from: 'n2',
      to: 'n1',
      windowMs: 40,
      window: 'measured',
    });
  });

  it('calls a failover that follows a lost connection to the leader one detected that way', () => {
    const { o, at, soft } = setup('n3');
    soft('follower', 'n1', 1);
    at(10);
    o.leaderGoneNoted();
    soft('follower', null, 1);
    at(60);
    soft('follower', 'n2', 2);
    at(2_000);
    soft('follower', null, 2);
    at(2_600);
    soft('follower', 'n1', 3);
    expect(o.activity().leaderChanges.map((c) => [c.to, c.kind, c.detection])).toEqual([
      ['n1', 'initial', null],
      ['n2', 'failover', 'connection lost'],
      ['n1', 'failover', 'election timeout'],
    ]);
  });

  it('leaves a change without writes around it unmeasured', () => {
    const { o, at, soft, write } = setup();
    soft('follower', 'n1', 1);
    write(1);
    at(60_000);
    soft('follower', 'n3', 2); // the last write was a minute before: nothing was interrupted
    expect(o.activity().leaderChanges.at(-1)).toMatchObject({ kind: 'failover', window: 'idle' });

    at(61_000);
    write(2);
    at(61_500);
    soft('follower', 'n1', 3); // writes were flowing, but none comes after
    expect(o.activity().leaderChanges.at(-1)).toMatchObject({ window: 'open', windowMs: null });
    at(61_500 + idleAfterMs + 1);
    expect(o.activity().leaderChanges.at(-1)).toMatchObject({ window: 'idle', windowMs: null });
  });

  it('counts writes and reads per second over the last complete seconds', () => {
    const { o, at, write } = setup();
    at(0);
    for (let i = 0; i < 10; i++) write(1);
    at(1_000);
    for (let i = 0; i < 30; i++) write(1);
    for (let i = 0; i < 4; i++) o.readServed();
    at(2_000);
    const a = o.activity();
    expect({ w: a.writesPerSec, r: a.readsPerSec, n: a.writesApplied, reads: a.readsServed }).toEqual({
      w: 20,
      r: 2,
      n: 40,
      reads: 4,
    });
  });

  it('hands snapshot sizes to metrics', () => {
    const { o, events } = setup();
    o.snapshotTaken(1_234);
    o.snapshotInstalled(99);
    expect(events).toEqual(['taken:1234', 'installed:99']);
  });
});

describe('RateCounter', () => {
  it('forgets seconds that fell out of its ring', () => {
    const r = new RateCounter();
    r.add(1_000, 8);
    expect(r.perSecond(2_500, 1)).toBe(8);
    expect(r.perSecond(1_000 + RateCounter.slots * 1_000 + 500, 1)).toBe(0);
  });
});
