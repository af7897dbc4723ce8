#!/usr/bin/env python3
"""The Dask engine against the local process pool: a set of captures (default 20 files, 10M packets in all)
analysed by `pcapdiag analyze --scheduler local -j 2` (a LocalCluster of 2 worker processes), `--jobs 2` and
`--jobs 1`, each a whole process (start-up, and the cluster's, included); then the start-up cost of a plain run
on a 100-packet capture beside tshark's.

    python bench/dask_bench.py                              # 20 files, 10M packets (~6.5 GB of captures)
    python bench/dask_bench.py --sizes 500000,1000000       # two smaller sets: does the cost grow linearly?

Per run: wall seconds, packets/s, peak RSS of the client process and of the largest worker (sampled every
0.1 s over the process tree), and the reports' equality. Per Dask run, in a separate in-process run with
the same captures: the cluster's start-up, and its overhead per task: the workers' time not spent in a
task's own computation (scheduling, transfers, waiting at the tail), over the tasks. Needs pcapdiag[dask];
the captures land in bench/out/dask/ (git-ignored) and are reused while the generator is unchanged.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from make_capture import generate
from measure import _ppid_map, _vmrss_kb

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out" / "dask"
SMALL = BENCH.parent / "sample_pcaps" / "vxlan-mtu-broken.pcap"   # 96 packets
# every flow kept: which of the smallest flows an evicting table keeps depends on the order states merge in
# (the cluster merges as a tree), so the engines' reports are compared below the cap
FLOW_CAP = 50_000_000


class PeakSampler(threading.Thread):
    """Peak RSS of a process (the client) and of the largest of its descendants (a worker), every 0.1 s."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.client_kb, self.worker_kb = pid, 0, 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.wait(0.1):
            kids, todo, largest = _ppid_map(), [], 0
            todo.extend(kids.get(self.pid, ()))
            while todo:
                pid = todo.pop()
                largest = max(largest, _vmrss_kb(pid))
                todo.extend(kids.get(pid, ()))
            self.client_kb = max(self.client_kb, _vmrss_kb(self.pid))
            self.worker_kb = max(self.worker_kb, largest)

    def stop(self):
        self._halt.set()
        self.join()


def timed(cmd: list[str], stdout=subprocess.DEVNULL) -> dict:
    sampler = None
    start = time.perf_counter()
    with subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE) as proc:
        sampler = PeakSampler(proc.pid)
        sampler.start()
        _, err = proc.communicate()
    seconds = time.perf_counter() - start
    sampler.stop()
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd[:4])}...: exit {proc.returncode}: {err.decode(errors='replace')[-500:]}")
    return {"seconds": seconds, "client_mb": sampler.client_kb / 1024, "worker_mb": sampler.worker_kb / 1024}


def capture_set(total: int, files: int) -> list[str]:
    """`files` captures of total/files packets each (seeds 1..files), made once."""
    folder = OUT / f"{total}x{files}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(1, files + 1):
        path = folder / f"part-{seed:03d}.pcap"
        if not path.exists():
            generate(str(path) + ".tmp", total // files, seed=seed, fmt="pcap")
            Path(str(path) + ".tmp").rename(path)
        paths.append(str(path))
    return paths


def pcapdiag_cmd() -> list[str]:
    script = Path(sys.executable).with_name("pcapdiag")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pcapdiag"]


def engines(paths: list[str], packets: int) -> list[dict]:
    rows, outputs = [], {}
    for name, extra in (("dask LocalCluster, 2 workers", ["--scheduler", "local", "-j", "2"]),
                        ("--jobs 2 (process pool)", ["-j", "2"]), ("--jobs 1", ["-j", "1"])):
        report = OUT / "report.json"
        with open(report, "wb") as stream:
            row = timed(pcapdiag_cmd() + ["analyze", *paths, "-q", "--format", "json", "--flow-cap", str(FLOW_CAP)]
                        + extra, stream)
        outputs[name] = hashlib.sha256(report.read_bytes()).hexdigest()
        rows.append({"engine": name, "packets": packets, **row, "packets_per_s": packets / row["seconds"]})
        print(json.dumps(rows[-1]), flush=True)
    if len(set(outputs.values())) != 1:
        sys.exit(f"the engines' reports differ: {outputs}")
    return rows


def dask_overhead(paths: list[str]) -> dict:
    """Cluster start-up, and the workers' time per task not spent computing it, from Dask's task stream."""
    import distributed

    import pcapdiag

    start = time.perf_counter()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=50,
                                  preload=["pcapdiag.runner"]) as cluster, distributed.Client(cluster) as client:
        startup = time.perf_counter() - start
        with distributed.get_task_stream(client) as stream:
            began = time.perf_counter()
            pcapdiag.analyze(paths, client=client, flow_cap=FLOW_CAP)
            wall = time.perf_counter() - began
    computing = sum(part["stop"] - part["start"] for task in stream.data for part in task["startstops"]
                    if part["action"] == "compute")
    tasks = len(stream.data)
    return {"cluster_startup_s": startup, "tasks": tasks, "run_s": wall,
            "overhead_per_task_ms": 1000 * max(0.0, 2 * wall - computing) / tasks}


def small_start(repeat: int = 5) -> dict:
    """Best-of-`repeat` whole-process seconds on a 100-packet capture: pcapdiag (JSON) and tshark."""
    best = {}
    commands = {"pcapdiag analyze --format json": pcapdiag_cmd() + ["analyze", str(SMALL), "-q", "--format", "json"]}
    if shutil.which("tshark"):
        commands["tshark -r (dissect, no output)"] = ["tshark", "-r", str(SMALL), "-q"]
    for name, cmd in commands.items():
        best[name] = min(timed(cmd)["seconds"] for _ in range(repeat))
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000000", help="total packets of each set, comma-separated")
    parser.add_argument("--files", type=int, default=20, help="captures per set")
    args = parser.parse_args(argv)
    results = {"sets": [], "small": small_start()}
    print(json.dumps(results["small"]), flush=True)
    for total in (int(size) for size in args.sizes.split(",")):
        paths = capture_set(total, args.files)
        results["sets"].append({"packets": total, "files": args.files, "runs": engines(paths, total),
                                "dask": dask_overhead(paths)})
        print(json.dumps(results["sets"][-1]["dask"]), flush=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print("\n| packets | engine | seconds | packets/s | client peak MB | largest worker peak MB |")
    print("|---:|---|---:|---:|---:|---:|")
    for entry in results["sets"]:
        for row in entry["runs"]:
            print(f"| {entry['packets']:,} | {row['engine']} | {row['seconds']:.1f} | {row['packets_per_s']:,.0f} | "
                  f"{row['client_mb']:.0f} | {row['worker_mb']:.0f} |")
    for entry in results["sets"]:
        dask = entry["dask"]
        print(f"\n{entry['packets']:,} packets: cluster start-up {dask['cluster_startup_s']:.1f} s, {dask['tasks']} "
              f"tasks, {dask['overhead_per_task_ms']:.0f} ms of worker time per task outside its computation")
    print("\n100-packet capture, best of 5: " + ", ".join(f"{k} {v:.2f} s" for k, v in results["small"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
