/**
 * `npm start`: the local three-node cluster of cluster/local.json, data under ./data/ (or
 * `npm start -- --config FILE --data DIR`). Logs are shown readable on the terminal (pino-pretty)
 * and kept as JSON in <data>/<id>.log. It says "ready" once the first request will work: every
 * node ready and every shard led by its preferred member (scripts/settled.ts). Ctrl-C stops all
 * nodes cleanly (SIGTERM: leaders hand over, nodes flush and exit).
 */

import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pretty from 'pino-pretty';
import { type NodeProcess, repoRoot, startNode, stopNode } from './local-cluster.js';
import { awaitSettled } from './settled.js';

/** How long `npm start` waits for the cluster to settle before it prints its hints anyway. */
const settleWaitMs = 20_000;

const { values: flags } = parseArgs({
  options: {
    config: { type: 'string', default: join(repoRoot, 'cluster', 'local.json') },
    data: { type: 'string', default: join(repoRoot, 'data') },
  },
});
const configPath = resolve(flags.config);
const config = JSON.parse(readFileSync(configPath, 'utf8')) as { nodes: { id: string; api: string }[] };
const dataRoot = resolve(flags.data);
const shown = (path: string) => relative(process.cwd(), path) || '.';
mkdirSync(dataRoot, { recursive: true });
// pino-pretty writes its readable lines to stdout itself.
const terminal = pretty({
  colorize: process.stdout.isTTY,
  translateTime: 'HH:MM:ss.l',
  ignore: 'pid,hostname',
  singleLine: true,
});

const nodes: NodeProcess[] = config.nodes.map((n) => {
  const file = createWriteStream(join(dataRoot, `${n.id}.log`), { flags: 'a' });
  let partial = '';
  return startNode({ configPath, id: n.id, dataDir: join(dataRoot, n.id) }, (_id, chunk, stream) => {
    if (stream === 'stderr') {
      process.stderr.write(`[${n.id}] ${chunk}`);
      return;
    }
    file.write(chunk);
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') terminal.write(`${line}\n`);
  });
});

let stopping = false;
const stopAll = async () => {
  if (stopping) return;
  stopping = true;
  process.stdout.write('\nraftkv: stopping all nodes...\n');
  const codes = await Promise.all(nodes.map((n) => stopNode(n)));
  process.stdout.write(`raftkv: stopped (exit codes ${codes.join(', ')})\n`);
  process.exit(0);
};
process.on('SIGINT', () => void stopAll());
process.on('SIGTERM', () => void stopAll());
for (const n of nodes) {
  void n.exited.then((code) => {
    if (!stopping)
      process.stderr.write(
        `raftkv: node ${n.id} exited with code ${code}; see ${shown(dataRoot)}/${n.id}.log\n`,
      );
  });
}

const first = config.nodes[0]!.api;
process.stdout.write(
  [
    '',
    `raftkv: starting ${config.nodes.length} nodes from ${shown(configPath)} (data in ${shown(dataRoot)}/, JSON logs in ${shown(dataRoot)}/<id>.log)`,
    ...nodes.map((p, i) => `  ${p.id}  API ${config.nodes[i]!.api}  pid ${p.child.pid}`),
    '',
    '',
  ].join('\n'),
);

const settledMs = await awaitSettled(
  config.nodes.map((n) => n.api),
  settleWaitMs,
);
process.stdout.write(
  [
    '',
    settledMs === null
      ? `raftkv: not settled after ${settleWaitMs / 1000} s (a node not ready, or a shard not led by its preferred node); see the logs`
      : `raftkv: ready in ${settledMs} ms: every node is ready and every shard has its leader`,
    'try:',
    `  curl -X PUT --data-binary hello ${first}/v1/kv/greeting`,
    `  curl ${config.nodes[1]?.api ?? first}/v1/kv/greeting`,
    `  curl ${first}/v1/cluster`,
    '  node dist/cli.js status --watch',
    `dashboard: ${first}/ui (on every node's API port)`,
    'Ctrl-C stops the cluster.',
    '',
    '',
  ].join('\n'),
);
