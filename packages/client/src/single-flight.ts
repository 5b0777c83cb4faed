interface Flight<T> {
  readonly promise: Promise<T>;
  readonly controller: AbortController;
  /** Callers still waiting that could abort; the flight is cancelled when the last one does. */
  abortable: number;
  /** A caller without a signal waits: the flight is never cancelled. */
  pinned: boolean;
}

/**
 * Concurrent calls for one key share one pending promise, forgotten once it settles (no caching).
 * A caller's `signal` detaches that caller only: the shared request is cancelled when every
 * caller waiting for it has aborted.
 */
export class SingleFlight<T> {
  readonly #flights = new Map<string, Flight<T>>();

  run(key: string, start: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason as unknown);
    let flight = this.#flights.get(key);
    if (!flight) {
      const controller = new AbortController();
      const created: Flight<T> = {
        promise: start(controller.signal).finally(() => this.#forget(key, created)),
        controller,
        abortable: 0,
        pinned: false,
      };
      this.#flights.set(key, created);
      flight = created;
    }
    if (signal === undefined) {
      flight.pinned = true;
      return flight.promise;
    }
    return this.#wait(key, flight, signal);
  }

  #wait(key: string, flight: Flight<T>, signal: AbortSignal): Promise<T> {
    flight.abortable++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        reject(signal.reason as unknown);
        if (--flight.abortable === 0 && !flight.pinned) {
          this.#forget(key, flight);
          flight.controller.abort(signal.reason);
        }
      };
      signal.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  #forget(key: string, flight: Flight<T>): void {
    // A cancelled flight may already have been replaced by a newer one for the same key.
    if (this.#flights.get(key) === flight) this.#flights.delete(key);
  }
}
