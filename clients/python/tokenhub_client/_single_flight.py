"""Concurrent calls for one key, across threads, share one call."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Callable, Dict, Generic, Hashable, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """
    The first thread to ask for a key runs ``start`` itself; the threads that ask for the same key
    while it runs wait for its result (or its exception). Nothing is kept once it settles.

    Example::

        flights = SingleFlight()
        flights.run(("app", "kind"), lambda: fetch("app", "kind"))
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: Dict[Hashable, "Future[T]"] = {}

    def run(self, key: Hashable, start: Callable[[], T]) -> T:
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = Future()
                self._flights[key] = flight
        if not leader:
            return flight.result()
        try:
            result = start()
        except BaseException as err:
            # BaseException too: a KeyboardInterrupt in the leader must not leave the others waiting forever.
            self._settle(key, flight, lambda f: f.set_exception(err))
            raise
        self._settle(key, flight, lambda f: f.set_result(result))
        return result

    def _settle(self, key: Hashable, flight: "Future[T]", settle: Callable[["Future[T]"], None]) -> None:
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        settle(flight)
