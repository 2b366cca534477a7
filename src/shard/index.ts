/** The shard layer's public surface, shared by nodes and the client library. */
export { hash53, hashSpace } from './hash.js';
export { placeShards, shardMembers } from './placement.js';
export { defaultPointsPerShard, HashRing, type RingSpec } from './ring.js';
