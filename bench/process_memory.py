"""Resident memory of a process tree, as the benchmarks sample it (imported by scripts run as ``python bench/<name>.py``)."""

import psutil


def tree_rss(process: psutil.Process) -> int:
    """Resident memory of a process and all its children (those that end between the listing and the read count 0)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total
