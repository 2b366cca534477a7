/**
 * The process harness: everything that starts, signals, waits for and inspects real raftkv node
 * processes, shared by test/ (the integration tests, the fault suite) and scripts/ (npm start,
 * the benchmarks).
 *
 * The rule: test/ and scripts/ never import each other; what both need lives here. harness/
 * imports only src/, Node and packages: never test/ or scripts/, and no test framework, so a
 * script can use it as well as a test. Test-suite runners (`npm run jepsen`, `npm run sim`) live
 * with the suite they run, under test/. `npm run lint` enforces this (.dependency-cruiser.cjs).
 */

export { ensureBuilt } from './build.js';
export { installSignalCleanup, onExit, runPendingCleanups } from './cleanup.js';
export { type NodeSpec, type Tuning, writeClusterFile } from './cluster-file.js';
export {
  type ErrorBody,
  type GroupStatus,
  kvPath,
  type NodeStatus,
  type Reply,
  type RequestOptions,
  sendRequest,
} from './node-api.js';
export { NodeLogs } from './node-logs.js';
export {
  isAlive,
  type JoinSpec,
  localClusterSecret,
  type NodeProcess,
  startNode,
  stopNode,
} from './node-process.js';
export { cliPath, repoRoot } from './paths.js';
export { freePorts } from './ports.js';
export { runCli } from './run-cli.js';
export { type ClusterOptions, TestCluster } from './test-cluster.js';
export { sleep, type WaitOptions, waitFor } from './wait.js';
