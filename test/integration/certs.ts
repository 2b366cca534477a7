/**
 * A throwaway PKI for TLS tests, made with the openssl CLI: a CA, one certificate per node
 * (valid for 127.0.0.1 and localhost, for serving and as a client), and a rogue certificate
 * that no CA of the cluster signed.
 */

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPki {
  readonly ca: Buffer;
  /** Absolute paths, as the cluster file's `security.tls` names them (`{id}`: the node id). */
  readonly files: { readonly ca: string; readonly cert: string; readonly key: string };
  /** A key and self-signed certificate the CA never saw. */
  readonly rogue: { readonly cert: Buffer; readonly key: Buffer };
}

const openssl = (dir: string, args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Writes ca.crt, ca.key, {id}.crt and {id}.key for every id, rogue.crt and rogue.key into `dir`. */
export function makePki(dir: string, ids: readonly string[]): TestPki {
  openssl(
    dir,
    ['req', '-x509', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2'].concat([
      '-subj',
      '/CN=raftkv test CA',
    ]),
  );
  writeFileSync(
    join(dir, 'node.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  for (const id of ids) {
    openssl(dir, ['req', ...ecKey, '-keyout', `${id}.key`, '-out', `${id}.csr`, '-subj', `/CN=${id}`]);
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${id}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${id}.crt`,
      '-days',
      '2',
      '-extfile',
      'node.ext',
    ]);
  }
  openssl(
    dir,
    ['req', '-x509', ...ecKey, '-keyout', 'rogue.key', '-out', 'rogue.crt', '-days', '2'].concat([
      '-subj',
      '/CN=rogue',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]),
  );
  return {
    ca: readFileSync(join(dir, 'ca.crt')),
    files: { ca: join(dir, 'ca.crt'), cert: join(dir, '{id}.crt'), key: join(dir, '{id}.key') },
    rogue: { cert: readFileSync(join(dir, 'rogue.crt')), key: readFileSync(join(dir, 'rogue.key')) },
  };
}
