/**
 * Whose data directory this is: the first start writes the store's identity (cluster id, node
 * id, format, and a random incarnation); every later start checks it, so that a node never runs
 * on the data of another node, another cluster or a newer build.
 */

import { randomBytes } from 'node:crypto';
import type { ClusterConfig } from '../config/cluster-file.js';
import type { NodeId } from '../raft/types.js';
import { type RaftStore, type StoreIdentity, storeFormat } from '../storage/raft-store.js';
import type { ClaimAnswer } from '../transport/wire.js';

/** A data directory or a cluster file that this node must not start with. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/**
 * Records a new identity in an empty store (incarnation drawn now, not yet claimed), or checks
 * the stored one and throws StartupError when the store is not this node's. A store from before
 * incarnations gets one, and is a member already. Returns the identity and the format the store
 * was written in (replica records exist from format 2).
 */
export async function checkIdentity(
  store: RaftStore,
  config: ClusterConfig,
  id: NodeId,
  /** For a new store: the incarnation a join already announced (`serve --join`). */
  incarnation?: string,
): Promise<{ readonly identity: StoreIdentity; readonly format: number }> {
  const stored = await store.identity();
  if (stored === null) {
    const identity: StoreIdentity = {
      clusterId: config.clusterId,
      nodeId: id,
      format: storeFormat,
      incarnation: incarnation ?? randomBytes(8).toString('hex'),
      start: 'unclaimed',
    };
    await store.setIdentity(identity);
    return { identity, format: storeFormat };
  }
  if (stored.format > storeFormat) {
    throw new StartupError(
      `data directory has format ${stored.format}, newer than this build's ${storeFormat}`,
    );
  }
  if (stored.clusterId !== config.clusterId) {
    throw new StartupError(
      `data directory belongs to cluster ${stored.clusterId}, not ${config.clusterId} of this cluster file`,
    );
  }
  if (stored.nodeId !== id)
    throw new StartupError(`data directory belongs to node ${stored.nodeId}, not ${id}`);
  if (stored.incarnation !== '') return { identity: stored, format: stored.format };
  // Written before incarnations: it has run as a member, and never learned its peers' incarnations.
  const identity: StoreIdentity = { ...stored, incarnation: randomBytes(8).toString('hex'), start: 'member' };
  for (const n of config.nodes) if (n.id !== id) await store.setPin(n.id, legacyPin);
  await store.setIdentity(identity);
  return { identity, format: stored.format };
}

/** The pin a store upgraded from format 1 holds for every peer: matches no incarnation. */
const legacyPin = '*';

/*
 * What a node answers a peer that claims an incarnation (the peer's data directory is new),
 * a ClaimAnswer:
 * - `new`: this node never confirmed one for it; it now has this one;
 * - `same`: it had confirmed this one (the claimant restarted before finishing its start);
 * - `rejoin`: it had confirmed another one, but the claimant is a member of none of this node's
 *   groups any more (it was removed): the new one is confirmed, and the claimant must start as a
 *   new member, with no replica;
 * - `taken`: it had confirmed another one and the claimant is still a member of one of this
 *   node's groups: its data directory was lost, and it must not come back as that member.
 */

/**
 * The incarnations this node has confirmed for its peers. Why it makes a wiped disk harmless:
 * a node with a new data directory runs nothing until every other node has confirmed its
 * incarnation (claimOwnIdentity). A node that had run before was confirmed by all of them, so
 * after its disk is lost each still holds its old incarnation and answers `taken` for as long as
 * the node is a member of one of its groups: the node cannot rejoin as the voter it was (with its
 * votes and log forgotten), whichever majority is up, until it is removed from every group.
 */
export class PeerIdentities {
  readonly #store: RaftStore;
  readonly #pins: Map<NodeId, string>;

  private constructor(store: RaftStore, pins: Map<NodeId, string>) {
    this.#store = store;
    this.#pins = pins;
  }

  static async load(store: RaftStore): Promise<PeerIdentities> {
    return new PeerIdentities(store, new Map(await store.pins()));
  }

  /** Answers `from`'s claim of `incarnation`; `isMember` says whether it is in one of our groups. */
  async answer(from: NodeId, incarnation: string, isMember: (node: NodeId) => boolean): Promise<ClaimAnswer> {
    const pinned = this.#pins.get(from);
    if (pinned === incarnation) return 'same';
    if (pinned !== undefined && isMember(from)) return 'taken';
    await this.#store.setPin(from, incarnation);
    this.#pins.set(from, incarnation);
    return pinned === undefined ? 'new' : 'rejoin';
  }
}

/** What a node's claim needs: whom to ask, and how. */
export interface ClaimDeps {
  readonly self: NodeId;
  readonly incarnation: string;
  /** Every other node of the cluster. */
  readonly peers: readonly NodeId[];
  /** Sends the claim to `peer`: its answer, or null when it could not be reached or is not ready. */
  readonly ask: (peer: NodeId) => Promise<ClaimAnswer | null>;
  /** Waits before asking the peers that did not answer again. */
  readonly pause: () => Promise<void>;
  /** Called once per peer that does not answer at first. */
  readonly waiting: (peers: readonly NodeId[]) => void;
}

/**
 * Asks every other node to confirm this new data directory's incarnation, until all have.
 * Resolves `bootstrap` when none knew another incarnation of this node (a node of a new
 * cluster: it creates the replicas the cluster file places on it) or `member` when one had known
 * it and it was removed since (it starts with no replica, as a new member). Throws StartupError
 * when a node still counts it as a member under another incarnation.
 */
export async function claimOwnIdentity(d: ClaimDeps): Promise<'bootstrap' | 'member'> {
  const answers = new Map<NodeId, ClaimAnswer>();
  let warned = false;
  for (;;) {
    const left = d.peers.filter((p) => !answers.has(p));
    const got = await Promise.all(left.map(async (p) => [p, await d.ask(p)] as const));
    for (const [p, a] of got) if (a !== null) answers.set(p, a);
    const taken = [...answers].filter(([, a]) => a === 'taken').map(([p]) => p);
    if (taken.length > 0) {
      throw new StartupError(
        `node ${d.self} is still a member of the cluster (so says ${taken.join(', ')}), but this data directory is new: ` +
          `its log and votes are lost and it must not come back as that member. Remove it with ` +
          `raftkv node remove ${d.self} --force (or remove its replica from each shard: DELETE /v1/admin/shards/{shard}/members/${d.self}), ` +
          `then start it with serve --join: it joins as a new member and the cluster gives it replicas`,
      );
    }
    const missing = d.peers.filter((p) => !answers.has(p));
    if (missing.length === 0) break;
    if (!warned) d.waiting(missing);
    warned = true;
    await d.pause();
  }
  return [...answers.values()].some((a) => a === 'rejoin') ? 'member' : 'bootstrap';
}
