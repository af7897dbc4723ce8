"""Measuring one child process for the benchmark: wall time, peak RSS (GNU time's %M, else wait4),
CPU seconds, the summed RSS of its process tree, and the CPU the rest of the machine used meanwhile;
and the description of the machine the numbers come from."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

# ---------------------------------------------------------------------------
# measuring one child process
# ---------------------------------------------------------------------------
def _ppid_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces and parentheses
        rest = stat[stat.rfind(b")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(entry))
    return kids


def _vmrss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Peak of the summed VmRSS of a process tree (sampled every `interval` s).

    With skip_root the root (the /usr/bin/time wrapper) is not counted."""

    def __init__(self, pid: int, interval: float = 0.1, skip_root: bool = False):
        super().__init__(daemon=True)
        self.pid, self.interval, self.skip_root = pid, interval, skip_root
        self.peak_kb = 0
        self.max_procs = 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.wait(self.interval):
            kids = _ppid_map()
            todo = list(kids.get(self.pid, ())) if self.skip_root else [self.pid]
            total = procs = 0
            while todo:
                pid = todo.pop()
                rss = _vmrss_kb(pid)
                if rss:
                    total += rss
                    procs += 1
                todo.extend(kids.get(pid, ()))
            self.peak_kb = max(self.peak_kb, total)
            self.max_procs = max(self.max_procs, procs)

    def stop(self):
        self._halt.set()
        self.join()


# Why a wrapper: on Linux a child's ru_maxrss starts from the RSS of the process
# it was forked from (exec records the old address space's high-water mark), so
# wait4() on a child forked from this Python harness never reports less than the
# harness's own RSS. GNU time forks the tool from a ~1 MB C process, so its %M
# (ru_maxrss from its own wait4) is the tool's own peak. Without GNU time we fall
# back to wait4 on the direct child and report that floor.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def _busy_cpu_s() -> float:
    """CPU-seconds all CPUs have spent busy since boot (/proc/stat, USER_HZ ticks)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def _self_rss_mb() -> float:
    return _vmrss_kb(os.getpid()) / 1024


def run_measured(cmd: list[str], scratch: Path, stdout=None, cwd=None, env=None, timeout: float | None = None) -> dict:
    """Run cmd once; wall seconds, peak RSS, CPU seconds, exit status. scratch holds its stderr and
    GNU time's output."""
    scratch.mkdir(parents=True, exist_ok=True)
    err_path, time_path = scratch / ".last-stderr", scratch / ".last-time"
    full_cmd = cmd
    if GNU_TIME:
        time_path.unlink(missing_ok=True)
        full_cmd = [GNU_TIME, "-f", "%M %U %S %x", "-o", str(time_path), "--"] + cmd
    stdout_f = open(stdout, "wb") if stdout else subprocess.DEVNULL
    load_before = os.getloadavg()[0]
    with open(err_path, "wb") as err_f:
        busy0 = _busy_cpu_s()
        t0 = time.perf_counter()
        proc = subprocess.Popen(full_cmd, stdout=stdout_f, stderr=err_f, cwd=cwd, env=env, start_new_session=True)
        sampler = TreeSampler(proc.pid, skip_root=bool(GNU_TIME))
        sampler.start()
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, 9)  # the child's own session: only what this run started
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.start()
        _, status, ru = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        busy = _busy_cpu_s() - busy0
        if timer:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # we reaped it; tell Popen
        sampler.stop()
    if stdout:
        stdout_f.close()
    result = {
        "cmd": cmd,
        "seconds": seconds,
        "returncode": proc.returncode,
        "timed_out": timed_out.is_set(),
        "peak_rss_mb": ru.ru_maxrss / 1024,  # Linux: KiB
        "cpu_user_s": ru.ru_utime,
        "cpu_sys_s": ru.ru_stime,
        "rss_method": "wait4 (floor: harness RSS %.0f MB)" % _self_rss_mb(),
    }
    if GNU_TIME:
        try:
            last = time_path.read_text().strip().splitlines()[-1].split()
            result.update(peak_rss_mb=int(last[0]) / 1024, cpu_user_s=float(last[1]), cpu_sys_s=float(last[2]),
                          returncode=int(last[3]), rss_method="GNU time %M")
        except (OSError, IndexError, ValueError):
            result["rss_method"] += "; GNU time output missing (killed?)"
    # CPU the rest of the machine used meanwhile (other processes, this harness):
    # a busy neighbour on a 2-CPU box skews every number, so it is reported.
    result["other_cpu_s"] = max(0.0, busy - result["cpu_user_s"] - result["cpu_sys_s"])
    result["loadavg_before"] = load_before
    result.update(tree_rss_mb=sampler.peak_kb / 1024, max_processes=sampler.max_procs,
                  stderr_tail=err_path.read_text(errors="replace")[-2000:])
    return result


# ---------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------
def _first_line(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def machine_info() -> dict:
    cpu_model, mhz = None, None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu_model is None:
                cpu_model = line.split(":", 1)[1].strip()
            if line.startswith("cpu MHz") and mhz is None:
                mhz = float(line.split(":", 1)[1])
    except OSError:
        pass
    mem_kb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu_max = None
    try:
        cpu_max = Path("/sys/fs/cgroup/cpu.max").read_text().strip()
    except OSError:
        pass
    versions = {}
    for dist in ("dpkt", "numpy", "pandas", "pcapdiag"):
        try:  # metadata only: importing pandas would bloat this harness's RSS
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "cgroup_cpu_max": cpu_max,
        "cpu_model": cpu_model,
        "cpu_mhz": mhz,
        "mem_total_gb": round(mem_kb / 1024 / 1024, 1) if mem_kb else None,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "modules": versions,
        "tshark": _first_line(["tshark", "--version"]) if shutil.which("tshark") else None,
        "tcpdump": _first_line(["tcpdump", "--version"]) if shutil.which("tcpdump") else None,
        "rss_method": "GNU time %M (per child)" if GNU_TIME else "os.wait4 ru_maxrss (includes a fork floor)",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
