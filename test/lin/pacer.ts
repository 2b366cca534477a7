/**
 * The pause between a nemesis's actions: sleep() returns early, and at once from then on, when
 * stop() is called, so a nemesis stops promptly in the middle of its quiet spell.
 */
export class Pacer {
  #stopped = false;
  #wake: (() => void) | null = null;

  get stopped(): boolean {
    return this.#stopped;
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.#wake = done;
    });
  }
}
