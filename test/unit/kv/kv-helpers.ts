/**
 * Builders shared by the kv unit tests: commands in their log form, and a log that feeds a
 * state machine entries at increasing indexes.
 */
import { type Condition, encodeCommand, type Session } from '../../../src/kv/commands.js';
import type { KVResult } from '../../../src/kv/results.js';
import type { KVStateMachine } from '../../../src/kv/state-machine.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

export function text(b: Uint8Array): string {
  return decoder.decode(b);
}

export interface WriteOptions {
  readonly ifMatch?: string | null;
  readonly ifNoneMatch?: boolean;
  readonly session?: Session | null;
}

function cond(opts: WriteOptions): Condition {
  return { ifMatch: opts.ifMatch ?? null, ifNoneMatch: opts.ifNoneMatch ?? false };
}

export function putCmd(key: string, value: string, opts: WriteOptions = {}): Uint8Array {
  return encodeCommand({
    op: 'put',
    key,
    value: bytes(value),
    cond: cond(opts),
    session: opts.session ?? null,
  });
}

export function delCmd(key: string, opts: WriteOptions = {}): Uint8Array {
  return encodeCommand({ op: 'delete', key, cond: cond(opts), session: opts.session ?? null });
}

/** Feeds one machine entries at indexes 1, 2, 3, … (or from `next`), returning each result. */
export class TestLog {
  constructor(
    readonly kv: KVStateMachine,
    public next = 1,
  ) {}

  put(key: string, value: string, opts: WriteOptions = {}): KVResult {
    return this.kv.apply(this.next++, putCmd(key, value, opts));
  }

  del(key: string, opts: WriteOptions = {}): KVResult {
    return this.kv.apply(this.next++, delCmd(key, opts));
  }

  noop(): void {
    this.kv.applyNoop(this.next++);
  }

  /** The value of `key` as text, or null if absent. */
  value(key: string): string | null {
    const entry = this.kv.get(key);
    return entry === null ? null : text(entry.value);
  }
}
