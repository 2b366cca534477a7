/**
 * Whether a peer's process is there, as its connections tell: our stream to it (peer-link.ts)
 * and its streams to us (stream-acceptor.ts). When the last of them is closed by the other side
 * or refused, with none left open either way, the peer is gone: a process that dies has the
 * kernel close or reset every connection it had at once. A peer that is paused or cut off keeps
 * its connections open and silent, and is never reported here (the election timeout finds it).
 */

export class PeerPresence {
  readonly #onGone: (peer: string) => void;
  readonly #onStream: (peer: string) => void;
  /** Per peer: our stream to it is open; how many of its streams to us are. */
  readonly #outgoing = new Set<string>();
  readonly #incoming = new Map<string, number>();

  /**
   * `onGone` hears each time a peer that had a connection open has none left; `onStream` each
   * time a peer opens a stream to us (a restarted peer does so as soon as it has anything to say).
   */
  constructor(onGone: (peer: string) => void, onStream: (peer: string) => void = () => {}) {
    this.#onGone = onGone;
    this.#onStream = onStream;
  }

  outgoingOpen(peer: string): void {
    this.#outgoing.add(peer);
  }

  /** Our stream to `peer` ended, or opening one was refused; `byPeer` false when we closed it ourselves. */
  outgoingLost(peer: string, byPeer: boolean): void {
    const had = this.#outgoing.delete(peer);
    if (byPeer && (had || this.#incoming.has(peer))) this.#check(peer);
  }

  incomingOpen(peer: string): void {
    this.#incoming.set(peer, (this.#incoming.get(peer) ?? 0) + 1);
    this.#onStream(peer);
  }

  incomingLost(peer: string, byPeer: boolean): void {
    const left = (this.#incoming.get(peer) ?? 1) - 1;
    if (left > 0) {
      this.#incoming.set(peer, left);
      return;
    }
    this.#incoming.delete(peer);
    if (byPeer) this.#check(peer);
  }

  #check(peer: string): void {
    if (!this.#outgoing.has(peer) && !this.#incoming.has(peer)) this.#onGone(peer);
  }
}
