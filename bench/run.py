#!/usr/bin/env python3
"""pcapdiag benchmark: generate a synthetic overlay capture, then time pcapdiag
beside a naive dpkt loop, tshark and tcpdump, all in one invocation.

    python bench/run.py                    # 1M packets
    python bench/run.py --scale 3 --pcapng # + a 3M capture and a pcapng twin

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
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from measure import GNU_TIME, _busy_cpu_s, _first_line, machine_info, run_measured
from report import compare_outputs, print_report

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
# what makes the synthetic capture: a capture made by other versions of these is not reused
GENERATOR_SOURCES = [BENCH / "make_capture.py"] + [
    ROOT / "pcapdiag" / "testing" / name for name in ("checksum.py", "files.py", "packets.py", "traffic.py")]

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
# main
# ---------------------------------------------------------------------------
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def warm_cache(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 23):
            pass


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
    generator_sha1 = hashlib.sha1(b"".join(path.read_bytes() for path in GENERATOR_SOURCES)).hexdigest()
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
                         out_dir, stdout=str(meta_path), env=pcapdiag_env(), timeout=args.timeout)
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
                            str(args.tshark_packets), "--seed", str(args.seed)], check=True, capture_output=True,
                           env=pcapdiag_env())
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
            m = run_measured(cmd, out_dir, stdout=stdout, cwd=ROOT, env=env, timeout=args.timeout)
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

    print_report(machine, captures, runs, checks, pcapdiag_cmd, pcapdiag_version)
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
