/**
 * ARCHITECTURE.md's table of limits is checked against the code: each row names an exported
 * constant (or a field of the Raft core's defaults) and shows its value; a row whose value is not
 * the code's, or whose name the code no longer exports, fails.
 */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as backupStream from '../../../src/api/backup-stream.js';
import * as clusterAuth from '../../../src/api/cluster-auth.js';
import * as forward from '../../../src/api/forward.js';
import * as rebalancer from '../../../src/api/rebalancer.js';
import * as uiRoute from '../../../src/api/routes/ui.js';
import * as watchStream from '../../../src/api/watch-stream.js';
import * as backupFormat from '../../../src/backup/format.js';
import * as kvCommands from '../../../src/kv/commands.js';
import * as leases from '../../../src/kv/leases.js';
import * as plan from '../../../src/membership/plan.js';
import * as group from '../../../src/node/group.js';
import * as balance from '../../../src/node/leader-balance.js';
import * as node from '../../../src/node/node.js';
import * as remote from '../../../src/node/remote.js';
import * as shardHistories from '../../../src/node/shard-histories.js';
import * as status from '../../../src/node/status.js';
import { defaultRaftTuning } from '../../../src/raft/types.js';
import * as join from '../../../src/server/join.js';
import * as serve from '../../../src/server/serve.js';
import * as transport from '../../../src/transport/http-transport.js';

const doc = readFileSync(fileURLToPath(new URL('../../../ARCHITECTURE.md', import.meta.url)), 'utf8');

/** Every constant the table may name, by the name it has there. */
const constants: Record<string, unknown> = {
  ...serve,
  ...backupStream,
  ...watchStream,
  ...shardHistories,
  ...backupFormat,
  ...transport,
  ...group,
  ...balance,
  ...status,
  ...remote,
  ...forward,
  ...uiRoute,
  ...rebalancer,
  ...clusterAuth,
  ...plan,
  ...join,
  ...leases,
  ...kvCommands,
  ...node,
  ...Object.fromEntries(Object.entries(defaultRaftTuning).map(([k, v]) => [`defaultRaftTuning.${k}`, v])),
};

/** Rows between the limits markers: [name, value as written]. */
function rows(): [string, string][] {
  const begin = doc.indexOf('<!-- limits:begin -->');
  const end = doc.indexOf('<!-- limits:end -->');
  expect(end).toBeGreaterThan(begin);
  return doc
    .slice(begin, end)
    .split('\n')
    .map((line) =>
      line
        .trim()
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    )
    .filter((cells) => /^`[A-Za-z.]+`$/.test(cells[0] ?? ''))
    .map((cells) => [cells[0]!.slice(1, -1), cells[1]!]);
}

/** How the table writes a value: bytes in KiB/MiB/GiB, everything else as the number itself. */
function written(name: string, value: number): string {
  if (/Bytes(Max)?$/.test(name)) {
    for (const [unit, size] of [
      ['GiB', 2 ** 30],
      ['MiB', 2 ** 20],
      ['KiB', 2 ** 10],
    ] as const) {
      if (value >= size && value % size === 0) return `${value / size} ${unit}`;
    }
  }
  return value.toLocaleString('en-US');
}

describe("ARCHITECTURE.md's limits", () => {
  it('lists at least the limits of starting a node, the transport, the groups and the node', () => {
    expect(rows().length).toBeGreaterThanOrEqual(12);
  });

  it.each(rows())('%s is %s in the code', (name, value) => {
    const actual = constants[name];
    expect(typeof actual, `${name} is not an exported number`).toBe('number');
    expect(value).toBe(written(name, actual as number));
  });
});
