"""Group commit: a background thread that commits whatever finished work is waiting, at once."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")


class GroupCommitThread(Generic[Item]):
    """A background thread that hands `commit` every item waiting for it at once (group commit).

    Each finished unit of work is put here the moment it is done. The thread commits whatever has
    arrived: one item alone when work finishes one at a time, everything that arrived during the
    previous commit when it finishes in bursts. Nothing finished waits for anything unfinished,
    and a fast producer is not held back by one transaction per item. `commit` handles its own
    errors; `close()` commits what is still queued and joins the thread.
    """

    def __init__(self, commit: Callable[[list[Item]], None], name: str, max_group: int = 1000) -> None:
        self._commit = commit
        self._max_group = max_group
        self._queue: queue.Queue[Item | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: Item) -> None:
        self._queue.put(item)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            group = [first]
            while len(group) < self._max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                group.append(item)
            self._commit(group)
