/**
 * A recorded client history: every operation with its invocation and completion times and its
 * outcome. `ok` results are observations the checker must explain; `fail` operations are known
 * not to have taken effect and are dropped; `info` operations (timeouts, 504, lost connections)
 * may take effect at any moment after their call, or never.
 */

export type Op =
  | { readonly f: 'read' }
  | { readonly f: 'write'; readonly value: string }
  | { readonly f: 'cas'; readonly expect: string; readonly value: string }
  | { readonly f: 'delete' };

/** What an `ok` operation observed. */
export type Output =
  | { readonly kind: 'value'; readonly value: string; readonly version: string }
  | { readonly kind: 'absent' }
  | { readonly kind: 'written'; readonly version: string }
  | { readonly kind: 'deleted' }
  | { readonly kind: 'preconditionFailed' };

export interface Operation {
  readonly id: number;
  readonly client: number;
  readonly key: string;
  readonly op: Op;
  /** Invocation and completion, in ms since the run began; completion is Infinity for `info`. */
  readonly call: number;
  readonly ret: number;
  readonly outcome: 'ok' | 'fail' | 'info';
  readonly output: Output | null;
  /** Free text for reports (status code, error). */
  readonly note?: string;
  /** The node the request was sent to. */
  readonly node?: string;
  /** For `info` operations: when the client stopped waiting, in ms since the run began. */
  readonly gaveUp?: number;
}

/** One operation as a JSON line (an `info` operation's endless completion is written as null). */
export function toJsonLine(o: Operation): string {
  return JSON.stringify({ ...o, ret: Number.isFinite(o.ret) ? o.ret : null });
}

/** The inverse of toJsonLine. */
export function fromJsonLine(line: string): Operation {
  const raw = JSON.parse(line) as Omit<Operation, 'ret'> & { ret: number | null };
  return { ...raw, ret: raw.ret ?? Number.POSITIVE_INFINITY };
}

export function describeOp(o: Operation): string {
  const op =
    o.op.f === 'read'
      ? 'read'
      : o.op.f === 'write'
        ? `write ${o.op.value}`
        : o.op.f === 'cas'
          ? `cas ${o.op.expect}→${o.op.value}`
          : 'delete';
  const out =
    o.output === null
      ? ''
      : o.output.kind === 'value'
        ? ` = ${o.output.value}@${o.output.version}`
        : o.output.kind === 'written'
          ? ` @${o.output.version}`
          : o.output.kind === 'absent'
            ? ' = absent'
            : o.output.kind === 'deleted'
              ? ' deleted'
              : ' precondition failed';
  const end = Number.isFinite(o.ret) ? o.ret.toFixed(1) : '∞';
  const via = o.node === undefined ? '' : ` (via ${o.node})`;
  return `#${o.id} c${o.client} [${o.call.toFixed(1)}, ${end}] ${o.outcome} ${op}${out}${via}`;
}
