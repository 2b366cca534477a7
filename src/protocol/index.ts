/**
 * The HTTP contract of README's API that both ends share, the API (src/api) and the client library
 * (src/client): error codes with their statuses, the X-Raft-* headers, the limits callers see.
 * Imports nothing, so every layer that speaks the protocol may import it.
 */
export { type ErrorBody, type ErrorCode, errorStatuses, isErrorCode } from './errors.js';
export {
  clusterAuthHeader,
  epochHeader,
  hopsHeader,
  type ParsedProvenance,
  type Provenance,
  parseProvenance,
  provenanceHeaders,
  provenanceHeadersOf,
  sessionClientPattern,
  sessionHeaders,
  sessionSeqPattern,
} from './headers.js';
export { isListLimit, keyBytesMax, listLimitDefault, listLimitMax, listLimitMin } from './limits.js';
export { formatSse, type SseEvent, SseParser } from './sse.js';
export { clusterTag, decodeCursor, encodeCursor, type ShardPosition } from './watch-cursor.js';
