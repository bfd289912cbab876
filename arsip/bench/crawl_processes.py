"""`arsip bench crawl`'s processes: the synthetic site's server and each crawl's child
process (``arsip.bench.crawl_child``), measured from outside (CPU, peak RSS of its tree)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from arsip.errors import CommandError


class SiteServer:
    """The synthetic site's server, in a child process."""

    def __init__(self, pages: int, seed: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c",
             "import sys; from arsip.bench.synthetic_site import serve_main; "
             "serve_main(sys.argv[1:])", "--pages", str(pages), "--seed", str(seed)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.stop()
            raise CommandError(f"the synthetic site did not start: {last_line(err)}")
        self.info = json.loads(line)
        self.url = f"http://127.0.0.1:{self.info['port']}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def run_child(spec: dict[str, Any], workdir: str, timeout: float) -> dict[str, Any]:
    import resource

    from arsip.bench.measure import TreeSampler

    spec = {**spec, "out": os.path.join(workdir, f"{spec['kind']}.json")}
    errlog = os.path.join(workdir, f"{spec['kind']}.stderr")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(errlog, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c",
             "import sys; from arsip.bench.crawl_child import child_main; child_main(sys.argv[1])",
             json.dumps(spec)], stdout=subprocess.DEVNULL, stderr=err)
        with TreeSampler(proc.pid) as sampler:
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise CommandError(f"the {spec['kind']} crawl took over {timeout:.0f} s") \
                    from None
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(errlog) as f:
        stderr = f.read()
    if code != 0 or not os.path.exists(spec["out"]):
        raise CommandError(f"the {spec['kind']} crawl failed (exit {code}): "
                           f"{last_line(stderr)}")
    with open(spec["out"]) as f:
        result = json.load(f)
    result["process_wall_s"] = time.perf_counter() - started
    result["process_cpu_s"] = (after.ru_utime + after.ru_stime
                               - before.ru_utime - before.ru_stime)
    result["peak_rss_mb"] = round(sampler.peak_rss / 1e6, 1)
    result["peak_pss_mb"] = round(sampler.peak_pss / 1e6, 1) if sampler.peak_pss else None
    # kernel high-water marks: the crawl process itself, its largest child (a pool worker)
    main_peak = result.get("vm_hwm_mb") or result["maxrss_end_mb"][0]
    result["peak_rss_main_mb"] = round(main_peak, 1)
    result["peak_rss_worker_mb"] = round(result["maxrss_end_mb"][1], 1)
    result["stderr_tail"] = last_line(stderr) if stderr.strip() else None
    return result
