/**
 * The transport seam: how a node hands Raft messages to its peers. Loss, delay and reordering
 * are normal (Raft tolerates them); what a transport must never do is block the caller or let
 * one slow peer hold up the others.
 */

import type { GroupMessage, PeerNotice } from './wire.js';

export interface Transport {
  /** Queues messages for their destinations (msg.to); returns at once. */
  send(msgs: readonly GroupMessage[]): void;
  /**
   * The peers from now on (node id → peer URL), as the node table changes: new nodes get a link,
   * a changed URL a new one; nodes no longer listed keep theirs until close (a removed member
   * still gets its last messages). A transport that reaches nodes by id alone has none.
   */
  setPeers?(peers: ReadonlyMap<string, string>): void;
  /**
   * Sends `payload` to peer `peer`'s call handler and resolves with its answer (peer-link.ts has
   * the errors: not sent, lost, failed). A transport without calls has none; callers then use
   * the client API's HTTP forwarding.
   */
  call?(peer: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** Tells every peer something about this node (that it is stopping), soon and once. */
  notify?(notice: PeerNotice): void;
  /** Whether `peer` is known to be up: a connection to it is open now. */
  peerUp?(peer: string): boolean;
  /** Stops sending; pending messages may be dropped. */
  close(): Promise<void>;
}

/** Receives what peers sent: already decoded, validated and checked for the cluster id. */
export type MessageSink = (from: string, msgs: readonly GroupMessage[]) => void;
