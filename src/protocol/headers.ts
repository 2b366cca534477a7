/**
 * The X-Raft-* headers (lower case, as Node presents them): those of README's API, the provenance every
 * reply about a key carries and the session of an exactly-once write, and the hop count nodes put
 * on a request they forward. `provenanceHeadersOf` writes provenance, `parseProvenance` reads it
 * back and says what is wrong when it cannot.
 */

/** Where a reply about a key came from. */
export const provenanceHeaders = {
  /** The shard of the key. */
  shard: 'x-raft-shard',
  /** The node that served the request (after any forwarding, the last one). */
  node: 'x-raft-node',
  /** The term that node was in for the shard. */
  term: 'x-raft-term',
  /** The applied index the answer reflects. */
  index: 'x-raft-index',
} as const;

/** The session of a write that may be retried: both headers or neither. */
export const sessionHeaders = {
  client: 'x-raft-client',
  seq: 'x-raft-seq',
} as const;

/**
 * Set by a node that forwards a request to another node's API: how many nodes relayed it so far.
 * Clients do not send it; a value that is not a small count stops further forwarding.
 */
export const hopsHeader = 'x-raft-hops';

/**
 * On every reply: the membership epoch the answering node has applied. It rises whenever nodes
 * join or leave or a shard's replicas move; a client that sees a newer one refreshes its map.
 */
export const epochHeader = 'x-raft-epoch';

/**
 * A request one node makes of another's API on the cluster's behalf (moving replicas, joining):
 * `<ms>.<hex>`, an HMAC of the method, path and time keyed with the cluster secret. It counts as
 * a read-write token.
 */
export const clusterAuthHeader = 'x-raft-cluster-auth';

/** A session's client id: 1–128 of `[A-Za-z0-9_.:-]`. */
export const sessionClientPattern = /^[A-Za-z0-9_.:-]{1,128}$/;
/** A session's sequence number: a positive integer (at most 15 digits, so it is exact). */
export const sessionSeqPattern = /^[1-9][0-9]{0,14}$/;

/** The values of the provenance headers. */
export interface Provenance {
  readonly shard: number;
  readonly node: string;
  readonly term: number;
  readonly index: number;
}

/** The provenance headers that carry `at`. */
export function provenanceHeadersOf(at: Provenance): Record<string, string> {
  return {
    [provenanceHeaders.shard]: String(at.shard),
    [provenanceHeaders.node]: at.node,
    [provenanceHeaders.term]: String(at.term),
    [provenanceHeaders.index]: String(at.index),
  };
}

export type ParsedProvenance =
  | { readonly ok: true; readonly at: Provenance }
  | { readonly ok: false; readonly problem: string };

/**
 * Reads the provenance headers of a reply: shard, term and index must be whole numbers (exact
 * as a JS number) and node must not be empty. Otherwise says which header is missing or wrong.
 */
export function parseProvenance(header: (name: string) => string | null): ParsedProvenance {
  const shard = wholeNumber(header, provenanceHeaders.shard);
  const term = wholeNumber(header, provenanceHeaders.term);
  const index = wholeNumber(header, provenanceHeaders.index);
  const node = header(provenanceHeaders.node);
  if (typeof shard === 'string') return { ok: false, problem: shard };
  if (typeof term === 'string') return { ok: false, problem: term };
  if (typeof index === 'string') return { ok: false, problem: index };
  if (node === null || node === '') return { ok: false, problem: `no ${provenanceHeaders.node} header` };
  return { ok: true, at: { shard, node, term, index } };
}

/** The header's value as a whole number, or what is wrong with it. */
function wholeNumber(header: (name: string) => string | null, name: string): number | string {
  const raw = header(name);
  if (raw === null) return `no ${name} header`;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(raw) || !Number.isSafeInteger(Number(raw)))
    return `${name} is ${JSON.stringify(raw)}, not a whole number`;
  return Number(raw);
}
