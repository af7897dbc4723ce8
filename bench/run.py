#!/usr/bin/env python3
"""pcapdiag benchmark: generate a synthetic overlay capture, then time pcapdiag
beside a naive dpkt loop, tshark and tcpdump, all in one invocation.

    /work/venv/bin/python bench/run.py                    # 1M packets
    /work/venv/bin/python bench/run.py --scale 3 --pcapng # + a 3M capture and a pcapng twin

Every tool runs as a separate process. Wall time is time.perf_counter() around
the whole process (start-up included); peak RSS and CPU time are that child's
own, from GNU time's %M/%U/%S (its wait4 of the tool: ru_maxrss of the largest
single process in the tool's tree, not a sum), falling back to os.wait4 here;
a sampler also sums VmRSS over the live process tree every 0.1 s for tools
that fork workers. Results go to stdout (a table) and bench/out/results.json. See
bench/README.md for what every column means.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable

# JSON keys (anywhere on the path) whose values may differ between two runs of
# the same analysis: timings, resource use, the run's own settings. Differences
# under these keys do not count as a decoder disagreement (they are listed).
VOLATILE_KEY = re.compile(
    r"^(elapsed|elapsed_s|elapsed_seconds|wall|wall_s|wall_time|wall_seconds|runtime|run_time|duration_s|"
    r"timing|timings|timer|timers|perf|performance|profile|rss|max_rss|peak_rss|memory|mem|cpu|cpu_s|cpu_time|"
    r"took|took_s|generated|generated_at|created|created_at|now|decoder|decoders|jobs|workers|pid|host|hostname|"
    r"argv|command|command_line|cmdline|options|settings|packets_per_second|pps|throughput|rate|mb_per_s)$",
    re.I)


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


SCRATCH = BENCH / "out"  # main() points this at --out-dir


def run_measured(cmd: list[str], stdout=None, cwd=None, env=None, timeout: float | None = None) -> dict:
    """Run cmd once; wall seconds, peak RSS, CPU seconds, exit status."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    err_path, time_path = SCRATCH / ".last-stderr", SCRATCH / ".last-time"
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
        "python_executable": PY,
        "modules": versions,
        "tshark": _first_line(["tshark", "--version"]) if shutil.which("tshark") else None,
        "tcpdump": _first_line(["tcpdump", "--version"]) if shutil.which("tcpdump") else None,
        "rss_method": "GNU time %M (per child)" if GNU_TIME else "os.wait4 ru_maxrss (includes a fork floor)",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def pcapdiag_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def find_pcapdiag(override: str | None) -> tuple[list[str] | None, str, list[str]]:
    """The first pcapdiag command whose `analyze --help` works: (cmd, help, tried)."""
    candidates: list[list[str]] = []
    if override:
        candidates.append(shlex.split(override))
    on_path = shutil.which("pcapdiag")
    if on_path:
        candidates.append([on_path])
    venv_script = Path(PY).parent / "pcapdiag"
    if venv_script.exists() and str(venv_script) != on_path:
        candidates.append([str(venv_script)])
    candidates.append([PY, "-m", "pcapdiag"])
    tried = []
    for cand in candidates:
        try:
            out = subprocess.run(cand + ["analyze", "--help"], capture_output=True, text=True, timeout=120,
                                 cwd=ROOT, env=pcapdiag_env())
        except (OSError, subprocess.TimeoutExpired) as exc:
            tried.append(f"{shlex.join(cand)}: {exc}")
            continue
        if out.returncode == 0 and "--format" in out.stdout:
            return cand, out.stdout, tried
        last = (out.stderr or out.stdout).strip().splitlines()
        tried.append(f"{shlex.join(cand)} analyze --help: exit {out.returncode}"
                     + (f" ({last[-1][:160]})" if last else ""))
    return None, "", tried


def pcapdiag_variants(base: list[str], help_text: str) -> tuple[list[tuple[str, list[str]]], dict]:
    """(label, extra args) per variant, and the detected features."""
    quiet = []
    if re.search(r"(^|[\s,])-q\b", help_text):
        quiet = ["-q"]
    elif "--quiet" in help_text:
        quiet = ["--quiet"]
    feats = {
        "quiet": quiet,
        "decoder_reference": bool(re.search(r"--decoder\b", help_text)) and "reference" in help_text,
        "jobs": bool(re.search(r"--jobs\b", help_text)),
    }
    variants = [("pcapdiag", [])]
    if feats["jobs"]:
        variants.append(("pcapdiag --jobs 1", ["--jobs", "1"]))
    if feats["decoder_reference"]:
        variants.append(("pcapdiag --decoder reference", ["--decoder", "reference"]))
    return variants, feats


# ---------------------------------------------------------------------------
# JSON comparison
# ---------------------------------------------------------------------------
def diff_json(a, b, path=()) -> list[tuple[tuple, object, object]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append((path + (k,), a.get(k, "<missing>"), b.get(k, "<missing>")))
            else:
                out.extend(diff_json(a[k], b[k], path + (k,)))
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = []
        if len(a) != len(b):
            out.append((path + ("len",), len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(diff_json(x, y, path + (i,)))
        return out
    if a != b and not (isinstance(a, float) and isinstance(b, float) and abs(a - b) <= 1e-9 * max(1, abs(a))):
        return [(path, a, b)]
    return []


def compare_outputs(file_a: Path, file_b: Path, label: str, extra_ignored: tuple = ()) -> dict:
    try:
        a = json.loads(file_a.read_text())
        b = json.loads(file_b.read_text())
    except (OSError, ValueError) as exc:
        return {"check": label, "status": "error", "detail": f"cannot parse output: {exc}"}
    diffs = diff_json(a, b)
    ignored, real = [], []
    for path, x, y in diffs:
        keys = [p for p in path if isinstance(p, str)]
        if any(VOLATILE_KEY.match(k) for k in keys) or tuple(keys) in extra_ignored:
            ignored.append(path)
        else:
            real.append((path, x, y))
    fmt = lambda p: ".".join(str(x) for x in p)  # noqa: E731
    result = {
        "check": label,
        "status": "identical" if not real else "DIFFERENT",
        "ignored_fields": sorted({fmt(p) for p in ignored})[:50],
        "differences": len(real),
        "first_differences": [{"path": fmt(p), "a": repr(x)[:120], "b": repr(y)[:120]} for p, x, y in real[:20]],
    }
    return result


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def warm_cache(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 23):
            pass


def fmt_num(x, digits=0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=1_000_000, help="packets in the base capture (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=int, default=1,
                    help="also generate and time a capture SCALE times larger (e.g. 3); 1 = off")
    ap.add_argument("--pcapng", action="store_true", help="also time a pcapng twin of the base capture")
    ap.add_argument("--tshark-packets", type=int, default=200_000,
                    help="time tshark on the first N packets only and extrapolate packets/s "
                         "(default 200,000; 0 = whole capture)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool; the fastest is reported (default 1)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per tool run before it is killed")
    ap.add_argument("--pcapdiag", metavar="CMD", help="pcapdiag command to use (default: `pcapdiag` on PATH, "
                                                      "then `python -m pcapdiag`)")
    ap.add_argument("--skip", default="", help="comma-separated tools to skip: pcapdiag,naive,tshark,tcpdump")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse captures already in the output directory (same packets/seed/format) "
                         "instead of regenerating them")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="S",
                    help="before each run, wait up to S seconds for a second in which other processes use "
                         "< 0.1 CPU (for shared machines; default 0 = don't wait)")
    ap.add_argument("--out-dir", default=str(BENCH / "out"))
    args = ap.parse_args(argv)

    out_dir = Path(args.out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    global SCRATCH
    SCRATCH = out_dir
    generator_sha1 = hashlib.sha1((BENCH / "make_capture.py").read_bytes()).hexdigest()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    notes: list[str] = []

    machine = machine_info()
    log(f"machine: {machine['nproc']} CPUs ({machine['usable_cpus']} usable), {machine['cpu_model']}, "
        f"Python {machine['python']}, {machine['mem_total_gb']} GB RAM")

    # -- tools -----------------------------------------------------------------
    have_tshark = shutil.which("tshark") is not None
    have_tcpdump = shutil.which("tcpdump") is not None
    have_editcap = shutil.which("editcap") is not None
    if not have_tshark:
        notes.append("tshark not found (apt-get install -y tshark): skipped")
    if not have_tcpdump:
        notes.append("tcpdump not found (apt-get install -y tcpdump): skipped")
    pcapdiag_cmd, help_text, tried = (None, "", [])
    if "pcapdiag" not in skip:
        pcapdiag_cmd, help_text, tried = find_pcapdiag(args.pcapdiag)
        if pcapdiag_cmd is None:
            notes.append("pcapdiag not runnable, skipped. Tried: " + "; ".join(tried))
    variants, feats = ([], {})
    pcapdiag_version = None
    if pcapdiag_cmd:
        variants, feats = pcapdiag_variants(pcapdiag_cmd, help_text)
        pcapdiag_version = _first_line(pcapdiag_cmd + ["--version"])
        log(f"pcapdiag: {shlex.join(pcapdiag_cmd)} ({pcapdiag_version}); "
            f"variants: {', '.join(v for v, _ in variants)}")
        if not feats["decoder_reference"]:
            notes.append("pcapdiag analyze has no --decoder reference: decoder identity check skipped")
        if not feats["jobs"]:
            notes.append("pcapdiag analyze has no --jobs: --jobs 1 variant skipped")
    else:
        log("pcapdiag: not available — " + ("; ".join(tried) if tried else "skipped"))

    # -- captures --------------------------------------------------------------
    captures = [{"label": "base", "packets": args.packets, "format": "pcap"}]
    if args.pcapng:
        captures.append({"label": "pcapng twin", "packets": args.packets, "format": "pcapng"})
    if args.scale > 1:
        captures.append({"label": f"{args.scale}x", "packets": args.packets * args.scale, "format": "pcap"})
    for cap in captures:
        path = out_dir / f"synthetic-{cap['packets']}-seed{args.seed}.{cap['format']}"
        meta_path = path.with_suffix(path.suffix + ".json")
        cap["file"] = str(path)
        if args.reuse and path.exists() and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("generator_sha1") == generator_sha1:
                cap["generation"] = meta | {"reused": True}
                log(f"capture {cap['label']}: reusing {path}")
                continue
            log(f"capture {cap['label']}: {path} was made by another version of make_capture.py; regenerating")
        log(f"generating {cap['label']} capture: {cap['packets']:,} packets, {cap['format']} -> {path}")
        m = run_measured([PY, str(BENCH / "make_capture.py"), "-o", str(path), "--packets", str(cap["packets"]),
                          "--seed", str(args.seed), "--format", cap["format"], "--json"],
                         stdout=str(meta_path), timeout=args.timeout)
        if m["returncode"] != 0:
            log(m["stderr_tail"])
            raise SystemExit(f"capture generation failed: {shlex.join(m['cmd'])}")
        gen = json.loads(meta_path.read_text())
        gen.update(process_seconds=round(m["seconds"], 3), peak_rss_mb=round(m["peak_rss_mb"], 1), reused=False,
                   other_cpu_s=round(m["other_cpu_s"], 1), generator_sha1=generator_sha1)
        meta_path.write_text(json.dumps(gen))
        cap["generation"] = gen
        log(f"  {gen['seconds']:.2f} s in the generator ({m['seconds']:.2f} s as a process), "
            f"{gen['bytes'] / 1e6:,.0f} MB, {cap['packets'] / m['seconds']:,.0f} packets/s")

    # tshark on a prefix
    base = captures[0]
    tshark_input, tshark_packets = Path(base["file"]), base["packets"]
    if have_tshark and "tshark" not in skip and 0 < args.tshark_packets < base["packets"]:
        if have_editcap:
            prefix = out_dir / f"synthetic-{base['packets']}-seed{args.seed}.first{args.tshark_packets}.pcap"
            subprocess.run(["editcap", "-r", base["file"], str(prefix), f"1-{args.tshark_packets}"],
                           check=True, capture_output=True)
            how = "editcap -r (exact prefix of the base capture)"
        else:
            prefix = out_dir / f"synthetic-{args.tshark_packets}-seed{args.seed}.pcap"
            subprocess.run([PY, str(BENCH / "make_capture.py"), "-o", str(prefix), "--packets",
                            str(args.tshark_packets), "--seed", str(args.seed)], check=True, capture_output=True)
            how = "make_capture.py with the same seed (editcap not found)"
        tshark_input, tshark_packets = prefix, args.tshark_packets
        notes.append(f"tshark timed on the first {tshark_packets:,} packets only (made with {how}); its "
                     f"packets/s is extrapolated to the whole capture and its peak RSS is for the prefix "
                     f"(tshark keeps per-frame state, so RSS grows with the capture).")

    # -- runs --------------------------------------------------------------------
    runs: list[dict] = []

    def wait_idle() -> float:
        """Wait (up to --wait-idle s) for a 1-s window in which other processes used < 0.1 CPU."""
        if args.wait_idle <= 0:
            return 0.0
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.wait_idle:
            b0 = _busy_cpu_s()
            time.sleep(1.0)
            if _busy_cpu_s() - b0 < 0.1:
                break
        return time.monotonic() - t0

    def timed(tool: str, cap: dict, cmd: list[str], packets: int, input_file: Path, stdout=None,
              ok_codes=(0,), env=None, extra=None):
        attempts = []
        for r in range(args.repeat):
            waited = wait_idle()
            if waited > 1.5:
                log(f"    waited {waited:.0f} s for the machine to go idle")
            log(f"[{cap['label']}] {tool}{f' (run {r + 1}/{args.repeat})' if args.repeat > 1 else ''}: "
                f"{shlex.join(cmd)}")
            m = run_measured(cmd, stdout=stdout, cwd=ROOT, env=env, timeout=args.timeout)
            m["ok"] = m["returncode"] in ok_codes and not m["timed_out"]
            log(f"    {m['seconds']:.2f} s, peak RSS {m['peak_rss_mb']:.0f} MB, CPU {m['cpu_user_s'] + m['cpu_sys_s']:.1f} s, "
                f"others {m['other_cpu_s']:.1f} CPU-s, exit {m['returncode']}"
                + ("" if m["ok"] else "  ** FAILED **"))
            if not m["ok"]:
                log("    " + m["stderr_tail"].strip().replace("\n", "\n    ")[-1500:])
            m["waited_for_idle_s"] = round(waited, 1)
            attempts.append(m)
        good = [m for m in attempts if m["ok"]]
        best = dict(min(good, key=lambda m: m["seconds"]) if good else attempts[-1])
        best["all_seconds"] = [m["seconds"] for m in attempts]
        cpu = best["cpu_user_s"] + best["cpu_sys_s"]
        row = {"tool": tool, "capture": cap["label"], "file": str(input_file), "format": cap["format"],
               "packets": packets, **best, "packets_per_s": packets / best["seconds"] if best["ok"] else None,
               "packets_per_cpu_s": packets / cpu if best["ok"] and cpu > 0 else None}
        if extra:
            row.update(extra)
        runs.append(row)
        return row

    pcapdiag_outputs: dict[tuple[str, str], Path] = {}
    for cap in captures:
        path = Path(cap["file"])
        log(f"warming the page cache with {path.name} ...")
        warm_cache(path)
        if pcapdiag_cmd:
            for label, extra_args in variants:
                slug = re.sub(r"[^a-z0-9]+", "-", f"{label}-{cap['label']}".lower()).strip("-")
                out_json = out_dir / f"{slug}.json"
                cmd = pcapdiag_cmd + ["analyze", str(path), "--format", "json"] + feats["quiet"] + extra_args
                # exit 1 = "findings at or above --fail-on": a successful analysis
                row = timed(label, cap, cmd, cap["packets"], path, stdout=str(out_json), ok_codes=(0, 1),
                            env=pcapdiag_env())
                row["output"] = str(out_json)
                if row["ok"]:
                    pcapdiag_outputs[(label, cap["label"])] = out_json
                    try:
                        reported = json.loads(out_json.read_text()).get("capture", {}).get("packets")
                    except (OSError, ValueError, AttributeError):
                        reported = None
                    row["reported_packets"] = reported
                    if reported != cap["packets"]:
                        notes.append(f"{label} on {cap['label']}: JSON capture.packets = {reported}, "
                                     f"expected {cap['packets']:,}")
        if "naive" not in skip:
            out_json = out_dir / f"naive-dpkt-{re.sub(r'[^a-z0-9]+', '-', cap['label'])}.json"
            row = timed("naive dpkt", cap, [PY, str(BENCH / "naive_dpkt.py"), str(path)], cap["packets"], path,
                        stdout=str(out_json))
            try:
                summary = json.loads(out_json.read_text())
                row["reported_packets"], row["flows_found"] = summary["packets"], summary["flows"]
            except (OSError, ValueError, KeyError):
                pass
        if have_tshark and "tshark" not in skip:
            if cap is base or args.tshark_packets == 0:
                tin, tpk = (tshark_input, tshark_packets) if cap is base else (path, cap["packets"])
                timed("tshark -T fields", cap,
                      ["tshark", "-r", str(tin), "-d", "udp.port==8472,vxlan", "-T", "fields",
                       "-e", "frame.number", "-e", "ip.src", "-e", "ip.dst", "-e", "udp.dstport", "-e", "vxlan.vni",
                       "-e", "tcp.srcport", "-e", "tcp.dstport"], tpk, tin,
                      extra={"prefix_of_capture": tpk < cap["packets"]})
        if have_tcpdump and "tcpdump" not in skip:
            timed("tcpdump -w /dev/null", cap, ["tcpdump", "-r", str(path), "-w", "/dev/null"], cap["packets"], path)
            timed("tcpdump -nn (decode+print)", cap, ["tcpdump", "-nn", "-r", str(path)], cap["packets"], path)
    if have_tshark and "tshark" not in skip and args.tshark_packets != 0 and len(captures) > 1:
        notes.append("tshark ran on the base capture only; rows for other captures compare with that rate.")

    # -- ratios ------------------------------------------------------------------
    def rate(tool: str, cap_label: str) -> float | None:
        for r in runs:
            if r["tool"] == tool and r["capture"] == cap_label and r["ok"]:
                return r["packets_per_s"]
        return None

    tshark_base = rate("tshark -T fields", base["label"])
    for r in runs:
        naive = rate("naive dpkt", r["capture"])
        tshark = rate("tshark -T fields", r["capture"]) or tshark_base
        pps = r["packets_per_s"]
        r["x_naive_dpkt"] = pps / naive if pps and naive else None
        r["x_tshark"] = pps / tshark if pps and tshark else None

    # -- checks --------------------------------------------------------------------
    checks = []
    if pcapdiag_cmd:
        for cap in captures:
            default = pcapdiag_outputs.get(("pcapdiag", cap["label"]))
            for label, _ in variants[1:]:
                other = pcapdiag_outputs.get((label, cap["label"]))
                if default and other:
                    what = {"pcapdiag --decoder reference": "decoder fast (default) vs reference",
                            "pcapdiag --jobs 1": "default jobs vs --jobs 1"}.get(label, label)
                    checks.append(compare_outputs(default, other, f"{what} [{cap['label']}]"))
        twin = pcapdiag_outputs.get(("pcapdiag", "pcapng twin"))
        if twin and pcapdiag_outputs.get(("pcapdiag", "base")):
            checks.append(compare_outputs(pcapdiag_outputs[("pcapdiag", "base")], twin,
                                          "pcap vs pcapng twin (same packets; capture.file/format ignored)",
                                          extra_ignored={("capture", "file"), ("capture", "format")}))
        if feats.get("decoder_reference") and not any("reference" in c["check"] for c in checks):
            checks.append({"check": "decoder fast vs reference", "status": "not run",
                           "detail": "one of the two runs failed"})

    # -- report ----------------------------------------------------------------------
    print()
    print(f"Machine: {machine['nproc']} CPUs ({machine['usable_cpus']} usable"
          + (f", cgroup cpu.max {machine['cgroup_cpu_max']}" if machine["cgroup_cpu_max"] else "")
          + f"), {machine['cpu_model']} @ {machine['cpu_mhz']} MHz, {machine['mem_total_gb']} GB RAM, "
          f"Linux {machine['kernel']}, Python {machine['python']}, dpkt {machine['modules'].get('dpkt')}")
    print(f"tshark: {machine['tshark']}; tcpdump: {machine['tcpdump']}; "
          f"pcapdiag: {shlex.join(pcapdiag_cmd) + ' (' + str(pcapdiag_version) + ')' if pcapdiag_cmd else 'not available'}")
    print()
    print("Captures:")
    for cap in captures:
        g = cap["generation"]
        print(f"  {cap['label']:<12} {cap['packets']:>12,} packets  {g['bytes'] / 1e6:>9,.1f} MB  {cap['format']:<6} "
              f"generated in {g['seconds']:.2f} s ({cap['packets'] / g['seconds']:,.0f} packets/s)"
              + ("  [reused]" if g.get("reused") else "")
              + (f"  [CONTENDED: {g['other_cpu_s']:.0f} CPU-s by other processes]"
                 if g.get("other_cpu_s", 0) > max(0.5, 0.15 * g.get("process_seconds", 0)) else "")
              + f"  {cap['file']}")
    print()
    headers = ["tool", "capture", "packets", "seconds", "packets/s", "x naive dpkt", "x tshark", "peak RSS MB",
               "CPU s", "pkts/CPU-s", ""]
    rows = []
    for r in runs:
        flag = ""
        if not r["ok"]:
            flag = "FAILED (timeout)" if r["timed_out"] else f"FAILED (exit {r['returncode']})"
        elif r.get("prefix_of_capture"):
            flag = "prefix; rate extrapolated"
        if r["ok"] and r["other_cpu_s"] > max(0.5, 0.15 * r["seconds"]):
            flag = (flag + "; " if flag else "") + f"CONTENDED: {r['other_cpu_s']:.0f} CPU-s by other processes"
        if r["ok"] and r["max_processes"] > 1 and r["tree_rss_mb"] > r["peak_rss_mb"] * 1.05:
            flag = (flag + "; " if flag else "") + f"{r['max_processes']} procs, tree RSS {r['tree_rss_mb']:.0f} MB"
        rows.append([r["tool"], r["capture"], fmt_num(r["packets"]), fmt_num(r["seconds"], 2),
                     fmt_num(r["packets_per_s"]), fmt_num(r["x_naive_dpkt"], 2), fmt_num(r["x_tshark"], 2),
                     fmt_num(r["peak_rss_mb"]), fmt_num(r["cpu_user_s"] + r["cpu_sys_s"], 1),
                     fmt_num(r["packets_per_cpu_s"]), flag])
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    right = {2, 3, 4, 5, 6, 7, 8, 9}
    line = lambda cells: "  ".join(  # noqa: E731
        (str(c).rjust(w) if i in right else str(c).ljust(w)) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
    if checks:
        print()
        print("Checks:")
        for c in checks:
            extra = ""
            if c.get("ignored_fields"):
                extra = f" (ignoring {len(c['ignored_fields'])} volatile field(s): {', '.join(c['ignored_fields'][:6])}" \
                        + (" ..." if len(c["ignored_fields"]) > 6 else "") + ")"
            print(f"  {c['check']}: {c['status']}{extra}")
            for d in c.get("first_differences", [])[:5]:
                print(f"      {d['path']}: {d['a']} != {d['b']}")
            if c.get("detail"):
                print(f"      {c['detail']}")
    contended = [r for r in runs if r["ok"] and r["other_cpu_s"] > max(0.5, 0.15 * r["seconds"])]
    if contended:
        notes.append(f"{len(contended)} run(s) shared the CPUs with other busy processes (CONTENDED above: "
                     "CPU-seconds the rest of the machine used during the run, from /proc/stat); "
                     "their times are pessimistic. Re-run on an idle machine.")
    if not GNU_TIME:
        notes.append("/usr/bin/time not found: peak RSS is os.wait4's ru_maxrss, which on Linux never reads below "
                     "the harness's own RSS (fork artifact); install the `time` package for exact numbers")
    if notes:
        print()
        print("Notes:")
        for n in notes:
            print(f"  - {n}")

    results = {
        "machine": machine,
        "params": vars(args),
        "pcapdiag": {"command": pcapdiag_cmd, "version": pcapdiag_version, "features": feats,
                     "variants": [v for v, _ in variants]},
        "captures": captures,
        "runs": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in runs],
        "checks": checks,
        "notes": notes,
    }
    res_path = out_dir / "results.json"
    res_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwrote {res_path}")
    failed = [r for r in runs if not r["ok"]]
    bad_checks = [c for c in checks if c["status"] not in ("identical",)]
    return 1 if failed or bad_checks else 0


if __name__ == "__main__":
    sys.exit(main())
