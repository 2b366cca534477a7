/**
 * `npm start`: the local three-node cluster of cluster/local.json, data under ./data/. Logs are
 * shown readable on the terminal (pino-pretty) and kept as JSON in data/<id>.log. Ctrl-C stops
 * all three cleanly (SIGTERM: leaders hand over, nodes flush and exit).
 */

import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pretty from 'pino-pretty';
import { type NodeProcess, repoRoot, startNode, stopNode } from './local-cluster.js';

const configPath = join(repoRoot, 'cluster', 'local.json');
const config = JSON.parse(readFileSync(configPath, 'utf8')) as { nodes: { id: string; api: string }[] };
const dataRoot = join(repoRoot, 'data');
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

const first = config.nodes[0]!.api;
process.stdout.write(
  [
    '',
    `raftkv: starting ${config.nodes.length} nodes from cluster/local.json (data in ./data/, JSON logs in data/<id>.log)`,
    ...nodes.map((p, i) => `  ${p.id}  API ${config.nodes[i]!.api}  pid ${p.child.pid}`),
    '',
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
      process.stderr.write(`raftkv: node ${n.id} exited with code ${code}; see data/${n.id}.log\n`);
  });
}
