/**
 * Shape checks on peer messages that the type system cannot make: a message that fails them is
 * impossible from a correct peer, so the core drops it rather than let it break an invariant.
 */

import { decodeConf, isValidConf } from './conf.js';
import type { Message } from './types.js';

/**
 * The highest term or index a correct member can send. Terms grow by one per election and
 * indexes by one per entry, so no cluster comes near 2^52 (a million of either every second for
 * 142 years). A forged position above it is refused: taken in, it would let the member's own next
 * term or index leave the safe integers (2^53), past what storage can write and load again.
 */
export const positionMax = 2 ** 52;

const isIndex = (n: number): boolean => Number.isSafeInteger(n) && n >= 0 && n <= positionMax;

/** Why `m` cannot come from a correct peer, or null when it is well formed. */
export function malformation(m: Message): string | null {
  if (!isIndex(m.term)) return 'term is not a non-negative integer';
  switch (m.type) {
    case 'append': {
      if (!isIndex(m.prevIndex) || !isIndex(m.prevTerm) || !isIndex(m.commit)) return 'bad append positions';
      if (m.prevTerm > m.term) return 'prevTerm above the leader term';
      let term = m.prevTerm;
      for (let k = 0; k < m.entries.length; k++) {
        const e = m.entries[k]!;
        if (e.index !== m.prevIndex + 1 + k) return 'entries not contiguous after prevIndex';
        if (!isIndex(e.term) || e.term < term || e.term > m.term) return 'entry terms out of order';
        if (e.kind === 'config' && decodeConf(e.data) === null) return 'config entry without a configuration';
        term = e.term;
      }
      return null;
    }
    case 'appendReply':
      return isIndex(m.index) && (m.hint === null || (isIndex(m.hint.index) && isIndex(m.hint.term)))
        ? null
        : 'bad reply positions';
    case 'requestVote':
      return isIndex(m.lastIndex) && isIndex(m.lastTerm) && m.lastTerm <= m.term ? null : 'bad vote request';
    case 'heartbeat':
      return isIndex(m.commit) && isIndex(m.read) ? null : 'bad heartbeat';
    case 'heartbeatReply':
      return isIndex(m.read) ? null : 'bad heartbeat reply';
    case 'snapshot': {
      const { index, term } = m.snapshot.meta;
      if (!isValidConf(m.snapshot.meta)) return 'snapshot without a valid configuration';
      return isIndex(index) && isIndex(term) && term <= m.term && index > 0 === term > 0
        ? null
        : 'bad snapshot meta';
    }
    case 'voteReply':
    case 'timeoutNow':
      return null;
  }
}
