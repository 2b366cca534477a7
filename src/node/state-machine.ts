/**
 * The replicated state machine as a group sees it: the contract between the shell (group.ts,
 * driven by the drive loop) and the application. raftkv's is kv/'s KVStateMachine, which meets
 * it structurally (kv/ imports nothing from node/); the simulator (test/sim) runs a register
 * machine through the same group, drive loop and waiters.
 */

import type { Index, Term } from '../raft/types.js';

/**
 * A deterministic machine advanced only by committed entries. The group calls, from the drive
 * loop only, `apply` for every committed entry that carries a command and `applyNoop` for every
 * other one, in log order, each index once and above the machine's last; `apply`'s result goes
 * to the client waiting on that entry. `term` is the entry's term, for a machine that records
 * it (a machine may ignore it). Nothing here may be async, read time or do I/O.
 */
export interface StateMachine<R> {
  apply(index: Index, data: Uint8Array, term: Term): R;
  applyNoop(index: Index, term: Term): void;
  /** The whole state after the last applied entry, as bytes its factory's `restore` accepts. */
  snapshot(): Uint8Array;
}

/** The result type of a state machine's `apply`. */
export type ResultOf<M> = M extends StateMachine<infer R> ? R : never;

/**
 * How a group makes its machine: empty when the group never took a snapshot, else from a
 * snapshot's data (its own on restart, or one a leader sent).
 */
export interface StateMachineFactory<M extends StateMachine<unknown>> {
  empty(): M;
  restore(data: Uint8Array): M;
}
