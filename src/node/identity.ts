/**
 * Whose data directory this is: the first start writes the store's identity (cluster id, node
 * id, format); every later start checks it, so that a node never runs on the data of another
 * node, another cluster or a newer build.
 */

import type { ClusterConfig } from '../config/cluster-file.js';
import type { NodeId } from '../raft/types.js';
import { type RaftStore, storeFormat } from '../storage/raft-store.js';

/** A data directory or a cluster file that this node must not start with. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/**
 * Records the identity in an empty store, or throws StartupError when the store is not this
 * node's. Says whether the store was new, and the format it was written in.
 */
export async function checkIdentity(
  store: RaftStore,
  config: ClusterConfig,
  id: NodeId,
): Promise<{ readonly fresh: boolean; readonly format: number }> {
  const identity = await store.identity();
  if (identity === null) {
    await store.setIdentity({ clusterId: config.clusterId, nodeId: id, format: storeFormat });
    return { fresh: true, format: storeFormat };
  }
  if (identity.format > storeFormat) {
    throw new StartupError(
      `data directory has format ${identity.format}, newer than this build's ${storeFormat}`,
    );
  } else if (identity.clusterId !== config.clusterId) {
    throw new StartupError(
      `data directory belongs to cluster ${identity.clusterId}, not ${config.clusterId} of this cluster file`,
    );
  } else if (identity.nodeId !== id) {
    throw new StartupError(`data directory belongs to node ${identity.nodeId}, not ${id}`);
  }
  return { fresh: false, format: identity.format };
}
