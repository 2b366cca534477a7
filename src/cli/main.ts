/**
 * The raftkv command line: `serve` runs a node; `put`, `get`, `del`, `list`, `status` talk to a
 * running cluster through its HTTP API (--endpoints or RAFTKV_ENDPOINTS). Errors print one
 * sentence; exit codes (exit-codes.ts): 0 done, 1 refused or failed, 2 usage, 3 key not found.
 */

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../config/cluster-file.js';
import { StartupError } from '../node/node.js';
import { isListLimit, listLimitDefault, listLimitMax, listLimitMin } from '../protocol/index.js';
import { serve } from '../server/serve.js';
import type { BenchOptions } from './bench-command.js';
import { ClientCli } from './client-commands.js';
import { type ConnectionFlags, connectionOf, withConnection } from './connection.js';
import { exitCodes } from './exit-codes.js';
import { nodeAdd, nodeList, nodeRemove } from './node-commands.js';
import { statusCommand } from './status.js';

const program = new Command()
  .name('raftkv')
  .description('A sharded, replicated key-value store on Raft')
  .showHelpAfterError()
  // Usage errors reach main() as CommanderError, which exits with the usage code.
  .exitOverride();

program
  .command('serve')
  .description('run one node in the foreground (logs are JSON lines on stdout)')
  .addOption(
    new Option('--config <file>', 'cluster file (with --join: only its security settings)').env(
      'RAFTKV_CONFIG',
    ),
  )
  .addOption(
    new Option('--id <id>', 'this node id, as in the cluster file').env('RAFTKV_ID').makeOptionMandatory(),
  )
  .addOption(
    new Option('--join <urls>', 'comma-separated API URLs of members: join that running cluster').env(
      'RAFTKV_JOIN',
    ),
  )
  .addOption(
    new Option('--api <url>', 'with --join: the URL clients and nodes reach this API at').env('RAFTKV_API'),
  )
  .addOption(
    new Option('--peer <url>', 'with --join: the URL other nodes reach this peer port at').env('RAFTKV_PEER'),
  )
  .addOption(new Option('--data <dir>', 'data directory (default ./data/<id>)').env('RAFTKV_DATA'))
  .addOption(
    new Option('--bind <addr>', "address to listen on instead of the URLs' hosts").env('RAFTKV_BIND'),
  )
  .action(
    async (o: {
      config?: string;
      id: string;
      data?: string;
      bind?: string;
      join?: string;
      api?: string;
      peer?: string;
    }) => {
      const join = o.join
        ?.split(',')
        .map((u) => u.trim())
        .filter(Boolean);
      await serve({
        configPath: o.config,
        id: o.id,
        dataDir: o.data,
        bind: o.bind,
        join,
        api: o.api,
        peer: o.peer,
      });
    },
  );

withConnection(
  program
    .command('backup')
    .description("copy every shard's state, linearizable at an index recorded per shard, into one file"),
)
  .requiredOption('--out <file>', 'the backup file to write (must not exist)')
  .action(async (o: ConnectionFlags & { out: string }) =>
    (await import('./backup-commands.js')).backupCommand(connectionOf(o), o),
  );

program
  .command('restore')
  .description("prepare a node's data directory of a NEW cluster from a backup file")
  .requiredOption('--from <file>', 'the backup file')
  .requiredOption('--config <file>', "the new cluster's file (its clusterId must differ from the backup's)")
  .requiredOption('--id <id>', 'the node to prepare, as in the cluster file')
  .requiredOption('--data <dir>', 'its data directory (must be empty or absent)')
  .action(async (o: { from: string; config: string; id: string; data: string }) =>
    (await import('./backup-commands.js')).restoreCommand(o),
  );

const nodes = program.command('node').description("add, remove (drain) and list the cluster's nodes");
withConnection(nodes.command('list').description('every node: state, up, replica and leader counts'))
  .option('--json', 'print the node list as JSON')
  .action(async (o: ConnectionFlags & { json?: boolean }) => nodeList(connectionOf(o), o));
withConnection(
  nodes.command('add <id>').description('add a node to the table (then start it with serve --join)'),
)
  .requiredOption('--api <url>', "the new node's API URL")
  .requiredOption('--peer <url>', "the new node's peer URL")
  .option('--json', 'print the answer as JSON')
  .action(async (id: string, o: ConnectionFlags & { api: string; peer: string; json?: boolean }) =>
    nodeAdd(connectionOf(o), id, o),
  );
withConnection(
  nodes
    .command('remove <id>')
    .description(
      'drain a node (its replicas move elsewhere) and remove it; --force for a node down for good',
    ),
)
  .option('--force', 'remove a node that is down for good at once; its replicas are re-created elsewhere')
  .option('--no-wait', 'return once the drain has started')
  .option('--json', 'print the answer as JSON')
  .action(async (id: string, o: ConnectionFlags & { force?: boolean; wait?: boolean; json?: boolean }) =>
    nodeRemove(connectionOf(o), id, o),
  );

const client = (o: ConnectionFlags) => new ClientCli(connectionOf(o));

withConnection(
  program.command('put <key> <value>').description('write a value (exit 1 if a condition does not hold)'),
)
  .option('--if-match <version>', "write only if the key's current version is this one")
  .option('--if-absent', 'write only if the key is absent')
  .option('--lease <id>', 'attach the key to this lease: it is deleted when the lease ends')
  .option('--json', 'print {key, version, shard, node, term, index}')
  .action(
    async (
      key: string,
      value: string,
      o: ConnectionFlags & { ifMatch?: string; ifAbsent?: boolean; lease?: string; json?: boolean },
    ) => client(o).put(key, value, o),
  );

const leases = program.command('lease').description('leases: keys that go when their owner stops renewing');
/** A time to live as the API takes it: a whole number of milliseconds (the nodes check the range). */
const ttlArg = (raw: string): number => {
  if (!/^[0-9]{1,9}$/.test(raw)) throw new InvalidArgumentError('a whole number of milliseconds');
  return Number(raw);
};
withConnection(
  leases
    .command('grant')
    .argument('<ttlMs>', 'time to live in ms (1000-86400000)', ttlArg)
    .description('grant a lease that nothing renews (see lease keepalive, or lease hold)'),
)
  .option('--json', 'print {lease, ttlMs}')
  .action(async (ttlMs: number, o: ConnectionFlags & { json?: boolean }) => client(o).leaseGrant(ttlMs, o));
withConnection(leases.command('keepalive <id>').description('renew a lease once; exit 3 if it has ended'))
  .option('--json', 'print {lease, ttlMs}')
  .action(async (id: string, o: ConnectionFlags & { json?: boolean }) => client(o).leaseKeepalive(id, o));
withConnection(
  leases.command('revoke <id>').description('revoke a lease and delete its keys; exit 3 if it had ended'),
)
  .option('--json', 'print {lease, revoked}')
  .action(async (id: string, o: ConnectionFlags & { json?: boolean }) => client(o).leaseRevoke(id, o));
withConnection(
  leases
    .command('hold')
    .argument('<ttlMs>', 'time to live in ms (1000-86400000)', ttlArg)
    .argument('[pairs...]', 'KEY=VALUE to write under the lease')
    .description('grant a lease, write keys under it and renew it until Ctrl-C (which revokes it)'),
)
  .option('--json', 'one JSON object per line')
  .action(async (ttlMs: number, pairs: string[], o: ConnectionFlags & { json?: boolean }) =>
    client(o).leaseHold(ttlMs, pairs, o),
  );

withConnection(
  program.command('get <key>').description('read a value (linearizable unless --stale); exit 3 if absent'),
)
  .option('--stale', 'allow a possibly stale answer from any replica')
  .option('--json', 'print {key, value, encoding, version, shard, node, term, index}')
  .action(async (key: string, o: ConnectionFlags & { stale?: boolean; json?: boolean }) =>
    client(o).get(key, o),
  );

withConnection(program.command('del <key>').description('delete a key; exit 3 if absent'))
  .option('--if-match <version>', "delete only if the key's current version is this one")
  .option('--json', 'print {key, deleted}')
  .action(async (key: string, o: ConnectionFlags & { ifMatch?: string; json?: boolean }) =>
    client(o).del(key, o),
  );

withConnection(
  program
    .command('watch <prefix>')
    .description('print every change under a prefix as it is committed, until Ctrl-C'),
)
  .option('--cursor <cursor>', 'resume after this cursor (from a --json line)')
  .option('--json', 'one JSON object per change, with the cursor to resume from')
  .action(async (prefix: string, o: ConnectionFlags & { json?: boolean; cursor?: string }) =>
    client(o).watch(prefix, o),
  );

withConnection(program.command('list [prefix]').description('list keys by prefix across all shards, sorted'))
  .option('--limit <n>', `keys per page (${listLimitMin}-${listLimitMax})`, String(listLimitDefault))
  .option('--after <key>', 'start after this key (the "next" of the previous page)')
  .option('--all', 'follow every page to the end')
  .option('--json', 'print {items: [{key, value, encoding, version}], more, next}')
  .action(
    async (
      prefix: string | undefined,
      o: ConnectionFlags & { limit: string; after?: string; all?: boolean; json?: boolean },
    ) => {
      const limit = Number(o.limit);
      if (!isListLimit(limit))
        throw new RangeError(`--limit must be an integer from ${listLimitMin} to ${listLimitMax}`);
      await client(o).list(prefix ?? '', { ...o, limit });
    },
  );

withConnection(
  program
    .command('status')
    .description('show every node and shard: role, term, leader, indexes, lag, recent leader changes'),
)
  .option('--watch', 'refresh every second until Ctrl-C')
  .option('--json', 'print the cluster view as JSON (one line per refresh with --watch)')
  .action(async (o: ConnectionFlags & { watch?: boolean; json?: boolean }) =>
    statusCommand(connectionOf(o), o),
  );

withConnection(
  program
    .command('bench')
    .description('load a running cluster and report throughput and latency percentiles'),
)
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
  .action(async (o: BenchOptions) => (await import('./bench-command.js')).benchCommand(o));

/**
 * Runs the command line on `argv` (process.argv). A refused start prints one line and exits 1;
 * a mistyped command or a bad flag value exits 2 (commander has printed why, with the help).
 */
export async function main(argv: readonly string[]): Promise<void> {
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here too, with exit code 0.
      process.exit(err.exitCode === 0 ? exitCodes.ok : exitCodes.usage);
    }
    if (err instanceof RangeError) {
      process.stderr.write(`raftkv: ${err.message}\n`);
      process.exit(exitCodes.usage);
    }
    if (err instanceof ConfigError || err instanceof StartupError) {
      process.stderr.write(`raftkv: ${err.message}\n`);
      process.exit(exitCodes.failed);
    }
    throw err;
  }
}
