"""Two scanners taking back the same stale claims at once (shared by the folder and S3 inbox tests)."""

from __future__ import annotations

import threading


def race_take_back(scanners: list, seen: list[list], timeout_s: float) -> list:
    """Each scanner takes back the stale claims it saw, both starting together; returns every claim won."""
    won: list = []
    lock = threading.Lock()
    start = threading.Barrier(len(scanners))

    def recover(index: int) -> None:
        start.wait()
        for stale in seen[index]:
            claimed = scanners[index].take_back(stale)
            if claimed is not None:
                with lock:
                    won.append(claimed)

    threads = [threading.Thread(target=recover, args=(index,)) for index in range(len(scanners))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout_s)
    return won
