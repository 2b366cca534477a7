/** The client library's public surface. */
export {
  type DeleteOptions,
  type GetOptions,
  type GetResult,
  type ListItem,
  type ListResult,
  type PutOptions,
  type PutResult,
  RaftKV,
  type RaftKVOptions,
  type Served,
} from './client.js';
export type { ClusterDescription } from './cluster-map.js';
export { RaftKVError, type RaftKVErrorCode } from './errors.js';
export { Lease } from './lease.js';
export type { WatchEvent, WatchOptions } from './watch.js';
