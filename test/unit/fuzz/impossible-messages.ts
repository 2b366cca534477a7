/**
 * Messages no correct member could send, made from any message by spoiling it one way: a
 * position (term or index) that is not a safe integer in [0, positionMax], terms out of order,
 * entries not contiguous, snapshot meta inconsistent, or misaddressed (to another member, from
 * itself, from a stranger). Built to the core's documented rules, not with its own check.
 */

import fc from 'fast-check';
import type { Entry, Message, NodeId } from '../../../src/raft/types.js';
import { positionMax } from '../../../src/raft/well-formed.js';
import { messageArb } from './arbitraries.js';

/** Numbers no position (term or index) can be. */
const notAPosition = fc.constantFrom(
  -1,
  -7,
  0.5,
  3.25,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  positionMax + 1,
  Number.MAX_SAFE_INTEGER,
  2 ** 53,
  2 ** 60,
  -(2 ** 53),
);

/** A message `m` made impossible in one way, and the member it is handed to. */
export interface Impossible {
  readonly deliverTo: NodeId;
  readonly msg: Message;
  readonly why: string;
}

type Spoil = 'badTerm' | 'badField' | 'termOrder' | 'gap' | 'snapshotMeta' | 'misaddressed';

function spoil(m: Message, how: Spoil, bad: number, k: number, ids: readonly NodeId[]): Impossible {
  const at = (msg: Message, why: string): Impossible => ({ deliverTo: msg.to, msg, why });
  const entry = (index: number, term: number): Entry => ({
    index,
    term,
    kind: 'command',
    data: new Uint8Array([k]),
  });
  switch (how) {
    case 'badTerm':
      return at({ ...m, term: bad }, `term ${bad}`);
    case 'badField':
      switch (m.type) {
        case 'requestVote':
          return at(k % 2 === 0 ? { ...m, lastIndex: bad } : { ...m, lastTerm: bad }, `vote position ${bad}`);
        case 'append': {
          const e = [entry(m.prevIndex + 1, m.prevTerm)];
          const fields = [
            { prevIndex: bad },
            { prevTerm: bad },
            { commit: bad },
            { entries: [{ ...e[0]!, term: bad }] },
          ];
          return at({ ...m, entries: e, ...fields[k % fields.length]! }, `append position ${bad}`);
        }
        case 'appendReply':
          return at(
            k % 3 === 0
              ? { ...m, index: bad }
              : { ...m, hint: k % 3 === 1 ? { index: bad, term: 0 } : { index: 1, term: bad } },
            `reply position ${bad}`,
          );
        case 'heartbeat':
          return at(k % 2 === 0 ? { ...m, commit: bad } : { ...m, read: bad }, `heartbeat position ${bad}`);
        case 'heartbeatReply':
          return at({ ...m, read: bad }, `read ${bad}`);
        case 'snapshot':
          return at(
            {
              ...m,
              snapshot: {
                ...m.snapshot,
                meta: { ...m.snapshot.meta, [k % 2 === 0 ? 'index' : 'term']: bad },
              },
            },
            `snapshot position ${bad}`,
          );
        default:
          return at({ ...m, term: bad }, `term ${bad}`);
      }
    case 'termOrder': {
      const term = Math.min(m.term, 2 ** 40) + 1;
      switch (m.type) {
        case 'append': {
          const variants: Message[] = [
            { ...m, term, prevTerm: term + 1 + k, entries: [] },
            {
              ...m,
              term,
              prevTerm: term,
              entries: [entry(m.prevIndex + 1, term), entry(m.prevIndex + 2, term - 1)],
            },
            { ...m, term, prevTerm: 0, entries: [entry(m.prevIndex + 1, term + 1 + k)] },
            { ...m, term, prevTerm: term, entries: [entry(m.prevIndex + 1, term - 1)] },
          ];
          return at(variants[k % variants.length]!, 'append terms out of order');
        }
        case 'requestVote':
          return at({ ...m, term, lastTerm: term + 1 + k }, 'vote request lastTerm above term');
        case 'snapshot':
          return at(
            {
              ...m,
              term,
              snapshot: { ...m.snapshot, meta: { ...m.snapshot.meta, index: 1 + k, term: term + 1 } },
            },
            'snapshot term above term',
          );
        default:
          return at({ ...m, term: bad }, `term ${bad}`);
      }
    }
    case 'gap': {
      const base = {
        type: 'append' as const,
        from: m.from,
        to: m.to,
        term: Math.min(m.term, 2 ** 40) + 1,
        prevIndex: k,
        prevTerm: 0,
        commit: 0,
      };
      const shapes = [
        [entry(k + 2, 1)],
        [entry(k + 1, 1), entry(k + 3, 1)],
        [entry(k + 1, 1), entry(k + 1, 1)],
        [entry(k, 1)],
      ];
      return at({ ...base, entries: shapes[k % shapes.length]! }, 'entries not contiguous');
    }
    case 'snapshotMeta': {
      const term = Math.min(m.term, 2 ** 40) + 1;
      const meta = k % 2 === 0 ? { index: 0, term: 1 + (k % term) } : { index: 1 + k, term: 0 };
      const msg: Message = {
        type: 'snapshot',
        from: m.from,
        to: m.to,
        term,
        snapshot: { meta: { ...meta, voters: ids, learners: [] }, data: new Uint8Array([1]) },
      };
      return at(msg, `snapshot meta ${meta.index}/${meta.term}`);
    }
    case 'misaddressed': {
      const other = ids.find((id) => id !== m.to)!;
      const variants: Impossible[] = [
        { deliverTo: other, msg: m, why: `to ${m.to} but handed to ${other}` },
        { deliverTo: m.to, msg: { ...m, from: m.to }, why: 'from itself' },
      ];
      return variants[k % variants.length]!;
    }
  }
}

/** A message no correct member could send, among members `ids`, and the member it is handed to. */
export function impossibleArb(ids: readonly NodeId[]): fc.Arbitrary<Impossible> {
  return fc
    .record({
      m: messageArb({ ids: fc.constantFrom(...ids) }).filter((m) => m.from !== m.to),
      how: fc.constantFrom<Spoil>('badTerm', 'badField', 'termOrder', 'gap', 'snapshotMeta', 'misaddressed'),
      bad: notAPosition,
      k: fc.nat(20),
    })
    .map(({ m, how, bad, k }) => spoil(m, how, bad, k, ids));
}
