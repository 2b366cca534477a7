/**
 * The integration tests' side of the process harness (harness/ at the repository root): its
 * cluster verbs, plus `useCluster`, which ties a cluster to a describe block's lifetime.
 */

import { afterAll, beforeAll, beforeEach } from 'vitest';
import { type ClusterOptions, TestCluster } from '../../harness/index.js';

export {
  type ClusterOptions,
  type ErrorBody,
  freePorts,
  type GroupStatus,
  kvPath,
  type NodeStatus,
  type Reply,
  type RequestOptions,
  runCli,
  TestCluster,
  type Tuning,
  type WaitOptions,
  waitFor,
} from '../../harness/index.js';

/**
 * A cluster for the enclosing describe block: created, started, ready and with leadership settled
 * in beforeAll; stopped in afterAll (even when tests fail); every node's log tail is printed for a
 * failing test.
 */
export function useCluster(o: ClusterOptions): () => TestCluster {
  let cluster: TestCluster | null = null;
  beforeAll(async () => {
    cluster = await TestCluster.create(o);
    try {
      await cluster.start();
      await cluster.waitReady();
      await cluster.waitBalanced();
    } catch (err) {
      cluster.printLogTails();
      throw err;
    }
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  beforeEach((ctx) => {
    ctx.onTestFailed(() => cluster?.printLogTails());
  });
  return () => {
    if (cluster === null) throw new Error('the cluster is created in beforeAll');
    return cluster;
  };
}
