/**
 * The commit index of one group as it was over the last moments, sampled once per tick, so that
 * readiness can ask "has this replica applied what was committed a while ago?" rather than "has
 * it applied everything committed this instant", which under a steady stream of writes is false
 * most of the time (entries commit between a turn's start and its apply).
 */

export class CommitTrail {
  // Invariant: #samples.length <= #length; #samples[#next] is the oldest sample once full.
  readonly #samples: number[] = [];
  readonly #length: number;
  #next = 0;

  /** Keeps the last `length` samples (at least 1). */
  constructor(length: number) {
    this.#length = Math.max(1, length);
  }

  /** Records the commit index of this tick. */
  note(commit: number): void {
    if (this.#samples.length < this.#length) this.#samples.push(commit);
    else this.#samples[this.#next] = commit;
    this.#next = (this.#next + 1) % this.#length;
  }

  /** The oldest commit index kept (about `length` ticks ago), or null before the first sample. */
  oldest(): number | null {
    if (this.#samples.length === 0) return null;
    return this.#samples.length < this.#length ? this.#samples[0]! : this.#samples[this.#next]!;
  }
}
