"""Measuring a crawl in a child process: CPU time, wall time, peak memory of a process tree.

- ``ProbeStats`` (a Scrapy ``STATS_CLASS``): keeps the crawl's stats after it closed and
  records the wall time and the CPU time (this process and its waited-for children, such as
  the extraction pool's workers) between the spider's opening and closing, so that imports
  and start-up are not counted.
- ``TreeSampler``: samples the RSS of a process and all its descendants (psutil) in a
  thread and keeps the peak of their sum.
- ``install_arsip_probes``: wraps arsip's extraction, fingerprinting, near-duplicate index and
  archive writer with CPU timers (in the crawl's child process only), to tell where arsip's
  time goes. The extraction workers and the writer process (forked after the probes are
  installed) write their totals to a directory (``collect_worker_totals``).
"""

from __future__ import annotations

import functools
import json
import os
import resource
import sys
import threading
import time
from typing import Any

from scrapy.statscollectors import MemoryStatsCollector

LAST: dict[str, Any] = {}  # what the last ProbeStats recorded


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def maxrss_mb() -> tuple[float, float]:
    """High-water RSS (MB) of this process and of its largest waited-for descendant."""
    scale = 1024 if sys.platform != "darwin" else 1  # KB on Linux, bytes on macOS
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale / 1e6)


def vm_hwm_mb() -> float | None:
    """This process's own peak RSS (Linux ``VmHWM``: unlike ``ru_maxrss``, not inherited
    from the process that started it across exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except (OSError, ValueError, IndexError):
        pass
    return None


def tree_cpu() -> tuple[float, float]:
    """(this process, its terminated and waited-for descendants) CPU seconds."""
    return cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)


class ProbeStats(MemoryStatsCollector):
    def open_spider(self, spider: Any = None) -> None:
        super().open_spider()
        LAST.clear()
        LAST["opened"] = time.perf_counter()
        LAST["cpu_open"] = tree_cpu()
        LAST["maxrss_open"] = maxrss_mb()

    def close_spider(self, spider: Any = None, reason: str | None = None) -> None:
        LAST["closed"] = time.perf_counter()
        LAST["cpu_close"] = tree_cpu()
        LAST["maxrss_close"] = maxrss_mb()
        LAST["stats"] = dict(self._stats)
        super().close_spider(reason=reason)


def crawl_figures() -> dict[str, Any]:
    """Wall and CPU seconds of the crawl that ProbeStats saw (after it closed)."""
    if "closed" not in LAST:
        raise RuntimeError("the crawl did not close")
    self0, kids0 = LAST["cpu_open"]
    self1, kids1 = LAST["cpu_close"]
    stats = LAST["stats"]
    return {
        "wall_s": LAST["closed"] - LAST["opened"],
        "cpu_main_s": self1 - self0,
        "cpu_children_s": kids1 - kids0,
        "responses": int(stats.get("response_received_count", 0) or 0),
        "maxrss_open_mb": LAST["maxrss_open"],
        "maxrss_close_mb": LAST["maxrss_close"],
        "maxrss_end_mb": maxrss_mb(),
        "vm_hwm_mb": vm_hwm_mb(),
        "stats": {k: v for k, v in stats.items()
                  if isinstance(v, int | float) and not isinstance(v, bool)},
    }


class TreeSampler:
    """Peak summed RSS of ``pid`` and its descendants, sampled every ``interval`` s (and
    their summed PSS every ``PSS_EVERY`` samples)."""

    PSS_EVERY = 4  # about once a second: the sampler takes about 1 % of one core

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss = 0
        self.peak_main_rss = 0
        self.peak_pss = 0  # proportional set size: shared (forked) pages counted once
        self._samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self, proc: Any) -> None:
        import psutil

        try:
            procs = [proc, *proc.children(recursive=True)]
            main = proc.memory_info().rss
        except psutil.Error:
            return
        # PSS (reading smaps_rollup: about 2 ms per 200 MB process) every PSS_EVERY-th
        # sample only, so that the sampler takes little CPU from the crawl it measures
        self._samples += 1
        with_pss = self._samples % self.PSS_EVERY == 1 or self.PSS_EVERY == 1
        total = pss = 0
        for p in procs:
            try:
                total += p.memory_info().rss
                if with_pss:
                    pss += getattr(p.memory_full_info(), "pss", 0)
            except (psutil.Error, OSError):
                pass
        self.peak_main_rss = max(self.peak_main_rss, main)
        self.peak_rss = max(self.peak_rss, total)
        self.peak_pss = max(self.peak_pss, pss)

    def _run(self) -> None:
        import psutil

        try:
            proc = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            self._sample(proc)
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- arsip's own time, by part (installed in the arsip crawl's child process) -------------

class _Totals:
    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.lock = threading.Lock()

    def add(self, key: str, value: float) -> None:
        with self.lock:
            self.values[key] = self.values.get(key, 0.0) + value


WRITER = _Totals()  # in the archive writer (its own process, or the crawl process's thread)
WORKER = _Totals()  # in each extraction worker (forked: a copy each)
_WORKER_DIR: str | None = None
_PROBED_PID: int | None = None  # the crawl process (where the probes were installed)


def dump_totals(totals: _Totals, prefix: str) -> None:
    """Write this process's totals to ``<dir>/<prefix>-<pid>.json``. In a process of its
    own (not the crawl process), the writer adds its whole CPU time (``process_cpu``)."""
    if _WORKER_DIR is None:
        return
    values = dict(totals.values)
    if prefix == "writer" and os.getpid() != _PROBED_PID:
        values["process_cpu"] = cpu_seconds()
    path = os.path.join(_WORKER_DIR, f"{prefix}-{os.getpid()}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(values, f)
    os.replace(path + ".tmp", path)


_DUMP_EVERY_S = 0.5
_last_dump: dict[str, float] = {}
_final_dump_for: set[tuple[int, str]] = set()


def _dump_now_and_then(totals: _Totals, prefix: str) -> None:
    """The workers' totals, written at most every half second and once more when the
    worker process exits (a multiprocessing finalizer): writing a file per page cost the
    probed crawl a tenth of a millisecond per page."""
    pid = os.getpid()
    if (pid, prefix) not in _final_dump_for:
        from multiprocessing import util

        util.Finalize(None, dump_totals, args=(totals, prefix), exitpriority=100)
        _final_dump_for.add((pid, prefix))
        _last_dump.pop(prefix, None)  # a forked copy of the parent's clock
    now = time.monotonic()
    if now - _last_dump.get(prefix, 0.0) >= _DUMP_EVERY_S:
        _last_dump[prefix] = now
        dump_totals(totals, prefix)


def _timed(fn: Any, totals: _Totals, key: str, *, dump: bool | str = False) -> Any:
    # functools.wraps keeps the name and module: the pool pickles functions by name, and
    # the name now leads to this wrapper
    prefix = "worker" if dump is True else dump or None

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            totals.add(key, time.thread_time() - t0)
            if prefix == "worker":
                _dump_now_and_then(totals, prefix)
            elif prefix:
                dump_totals(totals, prefix)

    return wrapper


def install_arsip_probes(worker_dir: str) -> list[str]:
    """Wrap the parts of arsip's crawl path with CPU timers; returns what was wrapped.

    Extraction and fingerprinting run in the pool's workers (forked after this, so they
    inherit the wrappers); each worker writes its totals to ``worker_dir``. So does the
    archive writer (with the near-duplicate index), in its own process (forked after this
    too) or in the crawl process's writer thread.
    """
    global _WORKER_DIR, _PROBED_PID
    _WORKER_DIR = worker_dir
    _PROBED_PID = os.getpid()
    wrapped = []
    try:
        import crawler.extraction as extraction
        import crawler.processing as processing

        extraction.extract_page = _timed(extraction.extract_page, WORKER, "extract")
        wrapped.append("extract_page")
        if hasattr(processing, "fingerprint"):
            processing.fingerprint = _timed(processing.fingerprint, WORKER, "fingerprint")
            wrapped.append("fingerprint")
        if hasattr(processing, "compress_raw"):  # the raw page, gzipped in the worker
            processing.compress_raw = _timed(processing.compress_raw, WORKER, "compress")
            wrapped.append("compress_raw")
        processing.process_page = _timed(processing.process_page, WORKER, "process_page",
                                         dump=True)
        wrapped.append("process_page")
    except (ImportError, AttributeError):
        pass
    try:
        import crawler.writer_process as writer_process

        writer_process.write_batch = _timed(writer_process.write_batch, WRITER,
                                            "write_batch", dump="writer")
        wrapped.append("write_batch")
    except (ImportError, AttributeError):
        pass
    try:
        from storage import dedup_index

        for name in ("mark_near_duplicate", "index_article"):
            if hasattr(dedup_index, name):
                setattr(dedup_index, name, _timed(getattr(dedup_index, name), WRITER,
                                                  "dedup_index"))
                wrapped.append(name)
    except ImportError:
        pass
    return wrapped


def collect_worker_totals(worker_dir: str, prefix: str = "worker") -> dict[str, float]:
    """The totals the extraction workers (``prefix="worker"``) or the archive writer
    (``"writer"``) wrote to ``worker_dir``, summed over processes."""
    out: dict[str, float] = {}
    for name in os.listdir(worker_dir):
        if name.startswith(prefix + "-") and name.endswith(".json"):
            with open(os.path.join(worker_dir, name)) as f:
                for key, value in json.load(f).items():
                    out[key] = out.get(key, 0.0) + value
    return out
