/**
 * README's table of cluster-file fields is checked against the parser: every optional field the
 * parser fills in has one row, every default in the table is the parser's, and the figures the
 * rows derive from the defaults (election timeout range, heartbeat interval, snapshot size
 * trigger) are computed from them, so the table cannot drift from the code.
 */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { clusterDefaults, parseClusterConfig } from '../../../src/config/cluster-file.js';
import { snapshotLogBytes } from '../../../src/node/group.js';

const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');

/** The rows between README's cluster-file-defaults markers: field → [default cell, meaning]. */
function tableRows(): Map<string, readonly [string, string]> {
  const begin = readme.indexOf('<!-- cluster-file-defaults:begin -->');
  const end = readme.indexOf('<!-- cluster-file-defaults:end -->');
  expect(begin).toBeGreaterThan(0);
  expect(end).toBeGreaterThan(begin);
  const rows = new Map<string, readonly [string, string]>();
  for (const line of readme.slice(begin, end).split('\n')) {
    const cells = line
      .trim()
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    const field = /^`([A-Za-z]+)`$/.exec(cells[0] ?? '')?.[1];
    if (field !== undefined && cells.length === 3) rows.set(field, [cells[1]!, cells[2]!]);
  }
  return rows;
}

const minimal = {
  nodes: [{ id: 'n1', api: 'http://127.0.0.1:7001', peer: 'http://127.0.0.1:7101' }],
  shards: 1,
  replicas: 1,
};

describe("README's cluster-file table", () => {
  it('has one row for every optional field the parser fills in, and no other', () => {
    const parsed = parseClusterConfig(minimal, 'minimal.json');
    const optional = Object.keys(parsed).filter((k) => !['nodes', 'shards', 'replicas'].includes(k));
    expect([...tableRows().keys()].sort()).toEqual(optional.sort());
  });

  it("shows each tuning field's default as the parser has it", () => {
    const rows = tableRows();
    for (const [field, value] of Object.entries(clusterDefaults)) {
      expect(rows.get(field)?.[0], field).toBe(`\`${value}\``);
    }
  });

  it('derives the election timeout, heartbeat and snapshot figures from the defaults', () => {
    const { tickMs, electionTicks, heartbeatTicks } = clusterDefaults;
    const rows = tableRows();
    const lastTick = 2 * electionTicks - 1;
    expect(rows.get('electionTicks')?.[1]).toContain(
      `${electionTicks}–${lastTick} ticks (${electionTicks * tickMs}–${lastTick * tickMs} ms)`,
    );
    expect(rows.get('heartbeatTicks')?.[1]).toContain(`(${heartbeatTicks * tickMs} ms)`);
    expect(rows.get('snapshotEntries')?.[1]).toContain(`${snapshotLogBytes / 2 ** 20} MiB`);
    expect(rows.get('valueBytesMax')?.[1]).toContain(`(${clusterDefaults.valueBytesMax / 2 ** 20} MiB)`);
  });
});
