#!/usr/bin/env node
/**
 * The raftkv command line: `serve` runs a node; `put`, `get`, `del`, `status` talk to a running
 * cluster through its HTTP API (--endpoints or RAFTKV_ENDPOINTS). Errors print one sentence and
 * exit 1.
 */

import { Command, Option } from 'commander';
import type { BenchOptions } from './bench/bench-command.js';
import { ClientCli } from './cli-client.js';
import { ConfigError } from './config.js';
import { StartupError } from './node/node.js';
import { serve } from './serve.js';

const program = new Command()
  .name('raftkv')
  .description('A sharded, replicated key-value store on Raft')
  .showHelpAfterError();

program
  .command('serve')
  .description('run one node in the foreground (logs are JSON lines on stdout)')
  .addOption(new Option('--config <file>', 'cluster file').env('RAFTKV_CONFIG').makeOptionMandatory())
  .addOption(
    new Option('--id <id>', 'this node id, as in the cluster file').env('RAFTKV_ID').makeOptionMandatory(),
  )
  .addOption(new Option('--data <dir>', 'data directory (default ./data/<id>)').env('RAFTKV_DATA'))
  .addOption(
    new Option('--bind <addr>', "address to listen on instead of the URLs' hosts").env('RAFTKV_BIND'),
  )
  .action(async (o: { config: string; id: string; data?: string; bind?: string }) => {
    await serve({ configPath: o.config, id: o.id, dataDir: o.data, bind: o.bind });
  });

const endpoints = () =>
  new Option('--endpoints <urls>', 'comma-separated node API URLs')
    .env('RAFTKV_ENDPOINTS')
    .default('http://127.0.0.1:7001,http://127.0.0.1:7002,http://127.0.0.1:7003');

const client = (o: { endpoints: string }) =>
  new ClientCli(
    o.endpoints
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

program
  .command('put <key> <value>')
  .description('write a value')
  .addOption(endpoints())
  .action(async (key: string, value: string, o: { endpoints: string }) => client(o).put(key, value));

program
  .command('get <key>')
  .description('read a value (linearizable unless --stale)')
  .addOption(endpoints())
  .option('--stale', 'allow a possibly stale answer from any replica')
  .action(async (key: string, o: { endpoints: string; stale?: boolean }) =>
    client(o).get(key, o.stale === true),
  );

program
  .command('del <key>')
  .description('delete a key')
  .addOption(endpoints())
  .action(async (key: string, o: { endpoints: string }) => client(o).del(key));

program
  .command('status')
  .description("show every node's groups: role, term, leader, indexes")
  .addOption(endpoints())
  .action(async (o: { endpoints: string }) => client(o).status());

program
  .command('bench')
  .description('load a running cluster and report throughput and latency percentiles')
  .addOption(endpoints())
  .option(
    '--target <kind>',
    'client (library, straight to leaders), http (plain HTTP through the nodes) or etcd',
    'client',
  )
  .option('--clients <n>', 'concurrent clients (closed loop), or most requests in flight (open loop)', '16')
  .option('--duration <s>', 'seconds to run', '10')
  .option('--rate <n>', 'open loop at n operations/s (0 = closed loop)', '0')
  .option('--mix <weights>', 'operation weights, e.g. put=1,get=3,cas=0', 'put=1')
  .option('--value-size <bytes>', 'value size', '100')
  .option('--keys <n>', 'number of distinct keys', '10000')
  .option('--distribution <d>', 'uniform or zipfian', 'uniform')
  .option('--consistency <c>', 'reads: linearizable or stale', 'linearizable')
  .option('--seed <n>', 'workload seed', '1')
  .option('--json', 'print the result as one JSON object')
  // Loaded on demand: a node need not load the load generator.
  .action(async (o: BenchOptions) => (await import('./bench/bench-command.js')).benchCommand(o));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ConfigError || err instanceof StartupError || err instanceof RangeError) {
    process.stderr.write(`raftkv: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
