/**
 * The simulator's replicated state machine, run by the real group through the StateMachine
 * contract: a map of registers written by client commands, plus a running hash chain over every
 * applied entry, so two members' states at one applied index can be compared by one number. It
 * enforces in-order application, serialises to a snapshot and tells its hooks what it applied.
 */
import type { StateMachine } from '../../src/node/state-machine.js';
import type { Entry, Index, Term } from '../../src/raft/types.js';

/** A client's write: set `key` to `value`; `id` is unique for the whole run. */
export interface WriteCommand {
  readonly id: number;
  readonly key: string;
  readonly value: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A write command as entry data. */
export function encodeWrite(cmd: WriteCommand): Uint8Array {
  return encoder.encode(JSON.stringify([cmd.id, cmd.key, cmd.value]));
}

/** The write command in an entry's data; the data must come from encodeWrite. */
export function decodeWrite(data: Uint8Array): WriteCommand {
  const [id, key, value] = JSON.parse(decoder.decode(data)) as [number, string, string];
  return { id, key, value };
}

/** A short, exact description of an entry, for comparing entries across members and for traces. */
export function describeEntry(entry: Entry): string {
  return entry.kind === 'noop'
    ? `${entry.index}/${entry.term}:noop`
    : `${entry.index}/${entry.term}:${decoder.decode(entry.data)}`;
}

/** The chain value after `entry` follows `chain`: FNV-1a over the entry's index, term, kind and data. */
export function chainEntry(chain: number, entry: Entry): number {
  let h = (chain ^ 0x811c9dc5) >>> 0;
  const mix = (byte: number) => {
    h = Math.imul(h ^ (byte & 0xff), 0x01000193) >>> 0;
  };
  for (const n of [entry.index, entry.term]) {
    for (let shift = 0; shift < 48; shift += 8) mix(Math.floor(n / 2 ** shift));
  }
  mix(entry.kind === 'noop' ? 0 : 1);
  for (const byte of entry.data) mix(byte);
  return h;
}

interface Register {
  readonly value: string;
  readonly index: Index;
}

/** What a member hears from its machine; either may throw to crash the member there. */
export interface MachineHooks {
  /** Before an entry is applied or a snapshot restored while the member carries out a Ready. */
  beforeApply(): void;
  /** After `entry` was applied; the machine now stands at it. */
  applied(machine: RegisterMachine, entry: Entry): void;
}

/**
 * One member's state machine: registers and the hash chain, up to `applied`. A command's result
 * is the id of the write it carried, so the client can check its own write was applied there.
 */
export class RegisterMachine implements StateMachine<number> {
  // Invariant: applied only grows, one entry at a time, or jumps forward by a snapshot restore.
  #applied: Index = 0;
  #appliedTerm: Term = 0;
  #chain = 0;
  readonly #registers = new Map<string, Register>();
  readonly #hooks: MachineHooks;

  constructor(hooks: MachineHooks) {
    this.#hooks = hooks;
  }

  get applied(): Index {
    return this.#applied;
  }

  /** The term of the entry at `applied` (the snapshot's term right after a restore). */
  get appliedTerm(): Term {
    return this.#appliedTerm;
  }

  /** The hash chain over every entry up to `applied`. */
  get chain(): number {
    return this.#chain;
  }

  apply(index: Index, data: Uint8Array, term: Term): number {
    this.#hooks.beforeApply();
    const cmd = decodeWrite(data);
    this.#advance({ index, term, kind: 'command', data });
    this.#registers.set(cmd.key, { value: cmd.value, index });
    this.#hooks.applied(this, { index, term, kind: 'command', data });
    return cmd.id;
  }

  applyNoop(index: Index, term: Term): void {
    this.#hooks.beforeApply();
    const entry: Entry = { index, term, kind: 'noop', data: new Uint8Array(0) };
    this.#advance(entry);
    this.#hooks.applied(this, entry);
  }

  /** The register's value and the index of the write that set it, or null if never written. */
  read(key: string): Register | null {
    return this.#registers.get(key) ?? null;
  }

  snapshot(): Uint8Array {
    const registers = [...this.#registers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return encoder.encode(
      JSON.stringify({ applied: this.#applied, term: this.#appliedTerm, chain: this.#chain, registers }),
    );
  }

  /** The machine a snapshot's data describes. */
  static restore(data: Uint8Array, hooks: MachineHooks): RegisterMachine {
    const state = JSON.parse(decoder.decode(data)) as {
      applied: Index;
      term: Term;
      chain: number;
      registers: [string, Register][];
    };
    const machine = new RegisterMachine(hooks);
    machine.#applied = state.applied;
    machine.#appliedTerm = state.term;
    machine.#chain = state.chain;
    for (const [key, register] of state.registers) machine.#registers.set(key, register);
    return machine;
  }

  /** Anything but applied + 1 is an ordering bug. */
  #advance(entry: Entry): void {
    if (entry.index !== this.#applied + 1) {
      throw new Error(`apply order: entry ${entry.index} applied after ${this.#applied}`);
    }
    this.#applied = entry.index;
    this.#appliedTerm = entry.term;
    this.#chain = chainEntry(this.#chain, entry);
  }
}
