/**
 * Deliberately broken nodes, to show that the fault suite catches real bugs. The breakage is a
 * small wrapper around cli.js written into a round's private copy of the build; nothing in src/,
 * the cluster file or the API can switch it on.
 *
 * - `local-reads`: a node serves linearizable reads from its own replica's state, without a
 *   ReadIndex round and without asking the leader, so a lagging replica answers stale values.
 * - `early-ack`: a leader acknowledges a write as soon as it is in its own log, before a majority
 *   has it (and before the state machine applied it, so conditions are not checked either).
 * - `watch-at-propose`: watch events are emitted when a leader proposes a write, not when a
 *   replica applies it (a write that is lost, or whose condition fails, is still announced, and a
 *   follower's watchers hear nothing of what they apply).
 * - `lease-early`: a replica's lease timers count a quarter of each lease's time to live from a
 *   grant or keepalive, so a shard's leader revokes a lease (and deletes its keys) while its
 *   holder still renews it in time.
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type BrokenVariant = 'local-reads' | 'early-ack' | 'watch-at-propose' | 'lease-early';

const patches: Record<BrokenVariant, string> = {
  'local-reads': `
const route = RaftKVNode.prototype.route;
RaftKVNode.prototype.route = function (shard) {
  return this.groups.has(shard) ? { kind: 'local' } : route.call(this, shard);
};
const read = RaftKVNode.prototype.read;
RaftKVNode.prototype.read = function (shard, key, _consistency) {
  return read.call(this, shard, key, 'stale');
};`,
  'early-ack': `
const propose = RaftKVNode.prototype.propose;
RaftKVNode.prototype.propose = function (shard, cmd) {
  const real = propose.call(this, shard, cmd);
  real.catch(() => {});
  const s = this.groups.get(shard).raft.status();
  const result = cmd.op === 'put' ? { ok: true, op: 'put', version: String(s.lastIndex) } : { ok: true, op: 'delete' };
  return Promise.resolve({ result, at: { shard, node: this.id, term: s.term, index: s.lastIndex } });
};`,
  'watch-at-propose': `
import { KVStateMachine } from './kv/state-machine.js';
KVStateMachine.prototype.onChange = function () {};
const propose = RaftKVNode.prototype.propose;
RaftKVNode.prototype.propose = function (shard, cmd) {
  const g = this.groups.get(shard);
  if (g !== undefined && g.raft.status().role === 'leader') {
    const index = g.raft.status().lastIndex + 1;
    this.changesOf(shard)?.history.append({ type: cmd.op, key: cmd.key, value: cmd.op === 'put' ? cmd.value : null, index });
  }
  return propose.call(this, shard, cmd);
};`,
  'lease-early': `
import { KVStateMachine } from './kv/state-machine.js';
const onLease = KVStateMachine.prototype.onLease;
KVStateMachine.prototype.onLease = function (listener) {
  const early = (e) => listener(e.type === 'renewed' ? { ...e, ttlMs: Math.floor(e.ttlMs / 4) } : e);
  return onLease.call(this, listener === null ? null : early);
};`,
};

/** Writes the broken wrapper next to the copy's cli.js and returns its path (use it as the cli). */
export function writeBrokenCli(buildDir: string, variant: BrokenVariant): string {
  const file = join(buildDir, `broken-${variant}.js`);
  writeFileSync(
    file,
    `// A deliberately broken node for the fault suite's own tests (${variant}).\n` +
      `import { RaftKVNode } from './node/node.js';\n${patches[variant]}\nawait import('./cli.js');\n`,
  );
  return file;
}
