/**
 * How simulated events read in a trace: one short line per message, entry or core log record.
 * Formatting only; it decides nothing, and runs only when a run is traced.
 */
import type { Logger } from '../../src/raft/logger.js';
import type { Entry, Message } from '../../src/raft/types.js';

function describeEntries(entries: readonly Entry[]): string {
  if (entries.length === 0) return '[]';
  const first = entries[0]!;
  const last = entries.at(-1)!;
  return entries.length === 1
    ? `[${first.index}/${first.term}]`
    : `[${first.index}/${first.term}..${last.index}/${last.term}]`;
}

/** One line for a message: route, type, term and the fields that matter. */
export function describeMessage(msg: Message): string {
  const head = `${msg.from}>${msg.to} ${msg.type} t${msg.term}`;
  switch (msg.type) {
    case 'requestVote':
      return `${head}${msg.pre ? ' pre' : ''}${msg.transfer ? ' transfer' : ''} last=${msg.lastIndex}/${msg.lastTerm}`;
    case 'voteReply':
      return `${head}${msg.pre ? ' pre' : ''} ${msg.granted ? 'granted' : 'rejected'}`;
    case 'append':
      return `${head} prev=${msg.prevIndex}/${msg.prevTerm} ${describeEntries(msg.entries)} commit=${msg.commit}`;
    case 'appendReply':
      return `${head} ${msg.ok ? 'ok' : 'reject'} index=${msg.index}${msg.hint === null ? '' : ` hint=${msg.hint.index}/${msg.hint.term}`}`;
    case 'heartbeat':
      return `${head} commit=${msg.commit} read=${msg.read}`;
    case 'heartbeatReply':
      return `${head} read=${msg.read}`;
    case 'snapshot':
      return `${head} ${msg.snapshot.meta.index}/${msg.snapshot.meta.term}`;
    case 'timeoutNow':
      return head;
  }
}

function stringify(obj: object): string {
  return JSON.stringify(obj, (_key, value: unknown) =>
    value instanceof Uint8Array ? `<${value.length} bytes>` : value,
  );
}

/** A core Logger that writes every record into the trace, tagged with the member. */
export function traceLogger(id: string, trace: (line: string) => void): Logger {
  return {
    debug: (obj, msg) => trace(`${id} core ${msg} ${stringify(obj)}`),
    info: (obj, msg) => trace(`${id} core ${msg} ${stringify(obj)}`),
    warn: (obj, msg) => trace(`${id} core WARN ${msg} ${stringify(obj)}`),
  };
}
