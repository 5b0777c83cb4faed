/** Promises waiting for a key to change, each with a timeout: the in-process half of "wake, don't poll". */
export class ChangeWaiters {
  readonly #waiting = new Map<string, Set<() => void>>();

  wait(key: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.#waiting.get(key);
      if (!set) this.#waiting.set(key, (set = new Set()));
      const waiters = set;
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.#waiting.get(key) === waiters) this.#waiting.delete(key);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      waiters.add(done);
    });
  }

  wake(key: string): void {
    const set = this.#waiting.get(key);
    if (set) for (const done of [...set]) done();
  }

  wakeAll(): void {
    for (const key of [...this.#waiting.keys()]) this.wake(key);
  }
}
