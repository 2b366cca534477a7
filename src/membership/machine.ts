/**
 * The membership group's state machine: table.ts's state behind the contract every group's
 * machine meets (apply, applyNoop, snapshot; node/state-machine.ts), with commands and snapshots
 * as JSON. A node reads `state` whenever it routes or sends; `epoch` tells it when to look again.
 */

import type { Index } from '../raft/types.js';
import {
  applyMembership,
  emptyMembership,
  type MembershipCommand,
  type MembershipResult,
  type MembershipState,
} from './table.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeMembershipCommand(cmd: MembershipCommand): Uint8Array {
  return encoder.encode(JSON.stringify(cmd));
}

export class MembershipMachine {
  #state: MembershipState;

  constructor(state: MembershipState = emptyMembership) {
    this.#state = state;
  }

  static restore(data: Uint8Array): MembershipMachine {
    return new MembershipMachine(JSON.parse(decoder.decode(data)) as MembershipState);
  }

  get state(): MembershipState {
    return this.#state;
  }

  apply(_index: Index, data: Uint8Array): MembershipResult {
    let cmd: MembershipCommand;
    try {
      cmd = JSON.parse(decoder.decode(data)) as MembershipCommand;
    } catch {
      return { ok: false, reason: 'not a membership command' };
    }
    const { state, result } = applyMembership(this.#state, cmd);
    this.#state = state;
    return result;
  }

  applyNoop(): void {}

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify(this.#state));
  }
}
