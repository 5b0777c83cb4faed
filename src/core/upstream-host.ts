/**
 * The host each upstream call went to, noted by the provider's HTTP layer under the signal of the
 * attempt (one signal per attempt) and read by the broker for its logs and observers. Hosts are
 * never secret; the path and query (which may hold one) are not kept.
 */
const hosts = new WeakMap<AbortSignal, string>();

export function noteUpstreamHost(signal: AbortSignal, host: string): void {
  hosts.set(signal, host);
}

/** The host the last call made under `signal` went to. */
export function upstreamHost(signal: AbortSignal): string | undefined {
  return hosts.get(signal);
}
