import type { BrokerObserver } from '../core/broker.js';

/**
 * One observer that tells each of `observers` in turn. One that throws does not keep the others
 * from hearing, nor the broker from going on: watching must never break serving.
 */
export function combineObservers(...observers: readonly BrokerObserver[]): BrokerObserver {
  const upstream = observers.flatMap((o) => (o.upstream ? [o.upstream.bind(o)] : []));
  const fetched = observers.flatMap((o) => (o.fetched ? [o.fetched.bind(o)] : []));
  const woken = observers.flatMap((o) => (o.woken ? [o.woken.bind(o)] : []));
  const tenant = observers.flatMap((o) => (o.tenant ? [o.tenant.bind(o)] : []));
  return {
    upstream(event) {
      for (const tell of upstream) safely(() => tell(event));
    },
    fetched(event) {
      for (const tell of fetched) safely(() => tell(event));
    },
    woken(app) {
      for (const tell of woken) safely(() => tell(app));
    },
    tenant(event) {
      for (const tell of tenant) safely(() => tell(event));
    },
  };
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // An observer's own failure is its business (each logs or counts its own).
  }
}
