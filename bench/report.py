"""The benchmark's output: the comparison of two pcapdiag JSON reports (run-describing keys ignored)
and the table printed at the end of a run."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

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


def fmt_num(x, digits=0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def print_report(machine: dict, captures: list[dict], runs: list[dict], checks: list[dict], pcapdiag_cmd,
                 pcapdiag_version) -> None:
    """The machine, the captures, one row per timed run and the consistency checks, on stdout."""
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
