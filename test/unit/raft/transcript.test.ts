/**
 * A transcript test in the datadriven style of etcd-io/raft's testdata: a small script drives a
 * three-member cluster and every Ready and every message delivered or dropped is printed in a
 * compact form, then compared with __snapshots__/transcript.txt. `vitest -u` rewrites the file;
 * keep a rewrite only once each changed line is understood against the paper.
 */

import { describe, expect, it } from 'vitest';
import type { Entry, Message, Ready } from '../../../src/raft/types.js';
import { type ClusterEvent, TestCluster, text } from './cluster.js';

const script = `
# §5.2, §9.6: n1 times out, wins a pre-vote, then the election, and appends its no-op.
campaign n1
# §5.3: a command is replicated and committed; empty appends carry the new commit index.
propose n1 x=1
# Heartbeats carry min(match, commit) and are answered.
tick n1 2
# §6.4: a read at the commit index is confirmed by one heartbeat round and a majority.
read n1 r1
# n1 is cut off; its proposal is appended but never committed.
partition n1 | n2 n3
propose n1 x=2
# check-quorum: n1 steps down at the first check that heard from no follower; n2 wins term 2.
tick n1 8
elect n2
propose n2 x=3
# n1 rejoins, learns term 2 from a heartbeat that commits nothing (its match is unknown),
# and its uncommitted x=2 is overwritten by the leader's log.
heal
tick n2 2
`;

const entry = (e: Entry) => `${e.index}:${e.term}${e.kind === 'noop' ? ' noop' : ` ${text(e)}`}`;
const list = <T>(xs: readonly T[], f: (x: T) => string) => `[${xs.map(f).join(', ')}]`;

function formatMessage(m: Message): string {
  const head = `${m.from}->${m.to} t${m.term}`;
  switch (m.type) {
    case 'requestVote':
      return `${head} ${m.pre ? 'preVote' : 'vote'} last=${m.lastIndex}:${m.lastTerm}${m.transfer ? ' transfer' : ''}`;
    case 'voteReply':
      return `${head} ${m.pre ? 'preVoteReply' : 'voteReply'} ${m.granted ? 'granted' : 'rejected'}`;
    case 'append':
      return `${head} append prev=${m.prevIndex}:${m.prevTerm} entries=${list(m.entries, entry)} commit=${m.commit}`;
    case 'appendReply':
      return `${head} appendReply ${m.ok ? 'ok' : 'rejected'} index=${m.index}${m.hint === null ? '' : ` hint=${m.hint.index}:${m.hint.term}`}`;
    case 'heartbeat':
      return `${head} heartbeat commit=${m.commit}${m.read === 0 ? '' : ` read=${m.read}`}`;
    case 'heartbeatReply':
      return `${head} heartbeatReply${m.read === 0 ? '' : ` read=${m.read}`}`;
    case 'snapshot':
      return `${head} snapshot ${m.snapshot.meta.index}:${m.snapshot.meta.term}`;
    case 'timeoutNow':
      return `${head} timeoutNow`;
  }
}

function formatReady(id: string, rd: Ready): string {
  const parts: string[] = [];
  if (rd.softState !== null) {
    parts.push(`soft=${rd.softState.role} t${rd.softState.term} leader=${rd.softState.leader ?? '-'}`);
  }
  if (rd.hardState !== null) {
    parts.push(`hard=t${rd.hardState.term} vote=${rd.hardState.vote ?? '-'} commit=${rd.hardState.commit}`);
  }
  if (rd.snapshot !== null) parts.push(`snapshot=${rd.snapshot.meta.index}:${rd.snapshot.meta.term}`);
  if (rd.entries.length > 0) parts.push(`entries=${list(rd.entries, entry)}`);
  if (rd.committed.length > 0) parts.push(`apply=${list(rd.committed, entry)}`);
  if (rd.readStates.length > 0) parts.push(`reads=${list(rd.readStates, (s) => `${s.ctx}@${s.index}`)}`);
  if (rd.messages.length > 0) parts.push(`send=${rd.messages.length}`);
  if (rd.mustSync) parts.push('sync');
  return `  ${id} ready ${parts.join(' ')}`;
}

function formatEvent(e: ClusterEvent): string {
  switch (e.kind) {
    case 'ready':
      return formatReady(e.id, e.rd);
    case 'deliver':
      return `    ${formatMessage(e.msg)}`;
    case 'drop':
      return `    DROP ${formatMessage(e.msg)}`;
    case 'crash':
      return `  ${e.id} crash`;
  }
}

/** Runs one script line against the cluster. */
function run(c: TestCluster, line: string): void {
  const [verb, ...args] = line.split(/\s+/);
  switch (verb) {
    case 'campaign':
      return c.campaign(args[0]!);
    case 'elect':
      return c.elect(args[0]!);
    case 'propose':
      c.propose(args[0]!, args[1]!);
      return;
    case 'read':
      c.get(args[0]!).raft.readIndex(args[1]!);
      return c.stabilize();
    case 'tick':
      for (let t = 0; t < Number(args[1]); t++) {
        c.tick(args[0]!);
        c.stabilize();
      }
      return;
    case 'partition': {
      const bar = args.indexOf('|');
      return c.partition(args.slice(0, bar), args.slice(bar + 1));
    }
    case 'heal':
      c.heal();
      return c.stabilize();
    default:
      throw new Error(`unknown verb in transcript: ${line}`);
  }
}

describe('§5, §6.4 transcript', () => {
  it('a leader is elected, commits, serves a read, is cut off, steps down and is brought back', async () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], { electionTicks: 4, heartbeatTicks: 2 });
    const out: string[] = [];
    c.observe((e) => out.push(formatEvent(e)));

    for (const raw of script.trim().split('\n')) {
      const line = raw.trim();
      if (line.startsWith('#')) {
        out.push(line);
        continue;
      }
      out.push(`> ${line}`);
      run(c, line);
    }
    out.push('# final state');
    for (const m of c.members.values()) {
      const s = m.raft.status();
      out.push(
        `  ${s.id} ${s.role} t${s.term} commit=${s.commit} applied=${s.applied} log=${list(m.raft.logView().entries, entry)}`,
      );
    }

    await expect(`${out.join('\n')}\n`).toMatchFileSnapshot('__snapshots__/transcript.txt');
  });
});
