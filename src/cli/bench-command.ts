/**
 * `raftkv bench`: drives a running cluster (or etcd) with a workload and prints a progress line
 * on a terminal and a table, or JSON, at the end.
 */

import { formatResult, runLoad } from '../bench/runner.js';
import { etcdTarget, raftkvClientTarget, raftkvHttpTarget, type Target } from '../bench/targets.js';
import { parseMix } from '../bench/workload.js';
import { type Connection, type ConnectionFlags, connectionOf } from './connection.js';

export interface BenchOptions extends ConnectionFlags {
  readonly target: string;
  readonly clients: string;
  readonly duration: string;
  readonly rate: string;
  readonly mix: string;
  readonly valueSize: string;
  readonly keys: string;
  readonly distribution: string;
  readonly consistency: string;
  readonly seed: string;
  readonly json?: boolean;
}

export async function benchCommand(o: BenchOptions): Promise<void> {
  const target = makeTarget(o.target, connectionOf(o));
  const int = (name: string, text: string, min: number) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new RangeError(`--${name} must be an integer >= ${min}`);
    return n;
  };
  if (o.distribution !== 'uniform' && o.distribution !== 'zipfian')
    throw new RangeError('--distribution is uniform or zipfian');
  if (o.consistency !== 'linearizable' && o.consistency !== 'stale')
    throw new RangeError('--consistency is linearizable or stale');
  const tty = process.stderr.isTTY && o.json !== true;
  try {
    const result = await runLoad(
      target,
      {
        keys: int('keys', o.keys, 1),
        valueBytes: int('value-size', o.valueSize, 0),
        distribution: o.distribution,
        mix: parseMix(o.mix),
      },
      {
        clients: int('clients', o.clients, 1),
        durationMs: Number(o.duration) * 1000,
        rate: int('rate', o.rate, 0),
        stale: o.consistency === 'stale',
        seed: int('seed', o.seed, 0),
        onProgress: tty
          ? (p) =>
              process.stderr.write(
                `\r${(p.elapsedMs / 1000).toFixed(0)}s  ${p.opsPerSec.toFixed(0)} ops/s  p50 ${p.p50Ms.toFixed(2)} ms  p99 ${p.p99Ms.toFixed(2)} ms  errors ${p.errors}   `,
              )
          : undefined,
      },
    );
    if (tty) process.stderr.write('\n');
    process.stdout.write(o.json === true ? `${JSON.stringify(result)}\n` : `${formatResult(result)}\n`);
  } finally {
    await target.close();
  }
}

function makeTarget(name: string, c: Connection): Target {
  switch (name) {
    case 'client':
      return raftkvClientTarget(c.endpoints, c);
    case 'http':
      return raftkvHttpTarget(c.endpoints, c);
    case 'etcd':
      return etcdTarget(c.endpoints);
    default:
      throw new RangeError('--target is client, http or etcd');
  }
}
