/**
 * Starting and stopping the processes of a local cluster from a cluster file, for `npm start` and
 * the benchmarks: the node-process verbs of harness/ (harness/node-process.ts), where the tests
 * get theirs too. Every process is tracked and stopped by its PID; nothing is killed by name.
 */

export {
  cliPath,
  localClusterSecret,
  type NodeProcess,
  repoRoot,
  startNode,
  stopNode,
} from '../harness/index.js';
