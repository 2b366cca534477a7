/**
 * `npm run jepsen -- [options]`: a fault-injection round against a real raftkv cluster, ending in a
 * report. Results go to jepsen-results/<timestamp>/: history.jsonl, report.txt, report.json,
 * timeline.html (open it in a browser), logs/<node>.log and run/cluster.json (the nodes' data
 * directories stay in run/data only when the round is invalid, or with --keep-data).
 *
 *   --nemesis kill,pause,partition,membership,grow-shrink | all   faults to inject (default all:
 *                     every kind but grow-shrink); membership moves shard replicas alongside the
 *                     others (with --nodes 4, to a node without one); grow-shrink adds, drains and
 *                     replaces whole nodes alongside them (not together with membership)
 *   --variants a,b    only these variants: leader, random, majority (kill, pause); isolate-node,
 *                     isolate-leader, majority-minority, bridge (partition); other-node, same-node
 *                     (membership); join, drain, replace (grow-shrink)
 *   --spares 2        nodes beyond --nodes that grow-shrink may add (their namespaces are made at start)
 *   --time 120        seconds of faults         --clients 16   concurrent clients
 *   --nodes 3         nodes                     --shards 3     shard groups
 *   --keys 9          keys                      --seed N       picks operations and faults
 *   --hold 3-8        seconds a fault is held   --quiet 2-5    seconds between faults
 *   --request-timeout 1500  the cluster's requestTimeoutMs   --client-timeout 3000  ms
 *   --tick-ms N  --election-ticks N  --snapshot-entries N       other cluster file tuning
 *   --reads stale     send the workload's reads with ?consistency=stale (a deliberate fault the
 *                     checker must report; the final reads stay linearizable)
 *   --leases on|off   lease holders beside the workload (default on, lease-round.ts): a live one
 *                     whose keys must stay, a paused one (SIGSTOP past its TTL) whose keys must go
 *                     in time and never early; judged in the report's "leases" section
 *   --net auto|netns|loopback               --out DIR      --keep-data
 *   --check FILE      only check a saved history.jsonl and print the verdicts
 *
 * Exit code 0: valid; 1: a violation, a lost write, no verdict, a watch or lease problem, or a
 * liveness problem; 2: usage.
 */

import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { installSignalCleanup, repoRoot } from '../../harness/index.js';
import { checkHistory } from './checker.js';
import { fromJsonLine } from './history.js';
import { allNemeses, type NemesisKind, nemesisKinds, nemesisVariants } from './nemesis.js';
import { runRound } from './round.js';

function parse() {
  try {
    return parseArgs({
      options: {
        nemesis: { type: 'string', default: 'all' },
        variants: { type: 'string', default: '' },
        time: { type: 'string', default: '120' },
        clients: { type: 'string', default: '16' },
        nodes: { type: 'string', default: '3' },
        spares: { type: 'string', default: '2' },
        shards: { type: 'string', default: '3' },
        keys: { type: 'string', default: '9' },
        seed: { type: 'string' },
        hold: { type: 'string', default: '3-8' },
        quiet: { type: 'string', default: '2-5' },
        'request-timeout': { type: 'string', default: '1500' },
        'client-timeout': { type: 'string', default: '3000' },
        'tick-ms': { type: 'string' },
        'election-ticks': { type: 'string' },
        'snapshot-entries': { type: 'string' },
        reads: { type: 'string', default: 'linearizable' },
        leases: { type: 'string', default: 'on' },
        net: { type: 'string', default: 'auto' },
        out: { type: 'string' },
        'keep-data': { type: 'boolean', default: false },
        check: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    return usage((err as Error).message);
  }
}

function usage(message?: string): never {
  if (message !== undefined) process.stderr.write(`jepsen: ${message}\n`);
  process.stderr.write(
    'usage: npm run jepsen -- [--nemesis kill,pause,partition,membership,grow-shrink|all] [--variants V,V] [--time S]\n' +
      '       [--clients N] [--nodes N] [--spares N] [--shards N] [--keys N] [--seed N] [--hold A-B] [--quiet A-B]\n' +
      '       [--net auto|netns|loopback] [--request-timeout MS] [--client-timeout MS] [--tick-ms N]\n' +
      '       [--election-ticks N] [--snapshot-entries N] [--reads linearizable|stale] [--leases on|off]\n' +
      '       [--out DIR] [--keep-data] | --check FILE\n',
  );
  process.exit(2);
}

const values = parse();

const int = (name: string, s: string | undefined, min: number): number => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}`);
  return n;
};
const range = (name: string, s: string): [number, number] => {
  const m = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(s);
  if (m === null || Number(m[1]) > Number(m[2])) usage(`--${name} must look like 3-8 (seconds)`);
  return [Math.round(Number(m[1]) * 1000), Math.round(Number(m[2]) * 1000)];
};

if (values.help) usage();

if (values.check !== undefined) {
  const history = readFileSync(values.check, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(fromJsonLine);
  const verdicts = checkHistory(history);
  for (const v of verdicts) {
    process.stdout.write(
      `${v.key}: ${v.unknown ? 'UNKNOWN' : v.ok ? 'linearizable' : 'VIOLATION'} (${v.operations} ops)\n`,
    );
    if (v.explanation !== null) process.stdout.write(`${v.explanation}\n`);
  }
  process.exit(verdicts.every((v) => v.ok && !v.unknown) ? 0 : 1);
}

const nemeses: NemesisKind[] =
  values.nemesis === 'all'
    ? [...allNemeses]
    : values.nemesis.split(',').map((s) => {
        const k = s.trim() as NemesisKind;
        if (!nemesisKinds.includes(k)) usage(`unknown nemesis "${s}" (${nemesisKinds.join(', ')}, all)`);
        return k;
      });
if (!['auto', 'netns', 'loopback'].includes(values.net)) usage('--net must be auto, netns or loopback');
if (!['linearizable', 'stale'].includes(values.reads)) usage('--reads must be linearizable or stale');
if (!['on', 'off'].includes(values.leases)) usage('--leases must be on or off');
const variants = values.variants
  .split(',')
  .map((v) => v.trim())
  .filter((v) => v !== '');
const known: readonly string[] = [...new Set(nemeses.flatMap((k) => nemesisVariants[k]))];
for (const v of variants) if (!known.includes(v)) usage(`unknown variant "${v}" (${known.join(', ')})`);
const nodes = int('nodes', values.nodes, 1);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : int('seed', values.seed, 0);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = values.out ?? join(repoRoot, 'jepsen-results', stamp);
mkdirSync(outDir, { recursive: true });

const tuning = {
  ...(values['tick-ms'] === undefined ? {} : { tickMs: int('tick-ms', values['tick-ms'], 1) }),
  ...(values['election-ticks'] === undefined
    ? {}
    : { electionTicks: int('election-ticks', values['election-ticks'], 2) }),
  ...(values['snapshot-entries'] === undefined
    ? {}
    : { snapshotEntries: int('snapshot-entries', values['snapshot-entries'], 2) }),
};
const t0 = Date.now();
const log = (line: string) => process.stdout.write(`${line}\n`);
installSignalCleanup((signal) => log(`\njepsen: ${signal}: stopping every node and removing the network`));
log(
  `jepsen: seed ${seed}, nemesis ${nemeses.join(',')}, ${values.time} s, ${values.clients} clients, ` +
    `${nodes} nodes, ${values.shards} shards; results in ${outDir}`,
);

const result = await runRound({
  nemeses,
  variants,
  timeMs: int('time', values.time, 1) * 1000,
  clients: int('clients', values.clients, 1),
  nodes,
  spares: nemeses.includes('grow-shrink') ? int('spares', values.spares, 1) : 0,
  shards: int('shards', values.shards, 1),
  keys: int('keys', values.keys, 1),
  seed,
  network: values.net as 'auto' | 'netns' | 'loopback',
  holdMs: range('hold', values.hold),
  quietMs: range('quiet', values.quiet),
  requestTimeoutMs: int('request-timeout', values['request-timeout'], 100),
  tuning,
  clientTimeoutMs: int('client-timeout', values['client-timeout'], 100),
  reads: values.reads as 'linearizable' | 'stale',
  leases: values.leases === 'on',
  outDir,
  keepData: values['keep-data'],
  progressEveryMs: 5_000,
  log,
});
log('');
process.stdout.write(result.text);
log(
  `\nresults: ${outDir} (report.txt, history.jsonl, timeline.html, logs/); whole run ${((Date.now() - t0) / 1000).toFixed(0)} s`,
);
const rerun = [
  `--nemesis ${nemeses.join(',')}`,
  ...(variants.length > 0 ? [`--variants ${variants.join(',')}`] : []),
  `--time ${values.time}`,
  `--clients ${values.clients}`,
  `--nodes ${values.nodes}`,
  ...(nemeses.includes('grow-shrink') ? [`--spares ${values.spares}`] : []),
  `--shards ${values.shards}`,
  `--keys ${values.keys}`,
  `--hold ${values.hold}`,
  `--quiet ${values.quiet}`,
  `--request-timeout ${values['request-timeout']}`,
  `--client-timeout ${values['client-timeout']}`,
  `--net ${values.net}`,
  ...(values.reads === 'stale' ? ['--reads stale'] : []),
  ...(values.leases === 'off' ? ['--leases off'] : []),
  ...Object.entries({
    'tick-ms': values['tick-ms'],
    'election-ticks': values['election-ticks'],
    'snapshot-entries': values['snapshot-entries'],
  })
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `--${k} ${v}`),
  `--seed ${seed}`,
];
log(`the same choices again (timing differs): npm run jepsen -- ${rerun.join(' ')}`);
process.exit(result.report.valid ? 0 : 1);
