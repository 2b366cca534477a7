/**
 * How the client commands reach a cluster: `--endpoints` (RAFTKV_ENDPOINTS), `--token`
 * (RAFTKV_TOKEN, an API token of the cluster) and `--ca` (RAFTKV_CA, a PEM file for https nodes
 * whose certificates a private CA signed).
 */

import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';

export interface ConnectionFlags {
  readonly endpoints: string;
  readonly token?: string;
  readonly ca?: string;
}

export interface Connection {
  readonly endpoints: readonly string[];
  readonly token: string | undefined;
  readonly ca: Buffer | undefined;
}

/** Adds --endpoints, --token and --ca to a client command. */
export function withConnection(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--endpoints <urls>', 'comma-separated node API URLs')
        .env('RAFTKV_ENDPOINTS')
        .default('http://127.0.0.1:7001,http://127.0.0.1:7002,http://127.0.0.1:7003'),
    )
    .addOption(new Option('--token <token>', 'API token, when the cluster requires one').env('RAFTKV_TOKEN'))
    .addOption(new Option('--ca <file>', "PEM CA file for https nodes' certificates").env('RAFTKV_CA'));
}

export function connectionOf(o: ConnectionFlags): Connection {
  let ca: Buffer | undefined;
  if (o.ca !== undefined) {
    try {
      ca = readFileSync(o.ca);
    } catch (err) {
      throw new RangeError(`cannot read --ca ${o.ca}: ${(err as Error).message}`);
    }
  }
  return {
    endpoints: o.endpoints
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    token: o.token === '' ? undefined : o.token,
    ca,
  };
}
