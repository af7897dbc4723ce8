"""The mutation harness: real captures, damaged by seeded mutations, through the real CLI.

Every run of `pcapdiag analyze FILE --format json -q` on a damaged capture must exit 0, 1 or 2
within a time bound, with no traceback; 0/1 print valid JSON with the contract's keys, 2 prints
one line on stderr. Exit 3 (internal error) is a bug. Most cases run in-process (CliRunner, fast);
a handful run as a real subprocess to prove nothing reaches a terminal but the one line.

Bases are the corpus captures (PCAPDIAG_CORPUS, default ../shared/corpus, and its lab/), cut to
their first 200 records. Reproduce case N with ``mutate(load_base(path), seed=N)`` (tests/mutate.py).
"""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from click.testing import CliRunner

from mutate import (corpus_captures, count_whole_records, file_format, garbage_tail, load_base, mutate, record_spans,
                    truncate)

BASES = corpus_captures()
CASES = 320                    # in-process cases; CI runs all of them
SUBPROCESS_CASES = 6
TIME_BOUND = 10.0              # seconds per run
REQUIRED_KEYS = {"version", "capture", "encapsulation", "nodes", "flows", "mtu", "findings"}

pytestmark = pytest.mark.skipif(not BASES, reason="no corpus captures (set PCAPDIAG_CORPUS)")


def _case(seed: int):
    return BASES[seed % len(BASES)] if BASES else None


def _ids(seed):
    base = _case(seed)
    return f"{seed}-{base.stem[:40]}" if base else str(seed)


class TimeBoundExceeded(Exception):
    pass


@contextmanager
def time_bound(seconds: float):
    """Interrupt the in-process run when it takes longer than the bound (SIGALRM, main thread)."""
    def expire(signum, frame):
        raise TimeBoundExceeded(f"analysis took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_in_process(path, *extra):
    from pcapdiag.cli import main

    started = time.monotonic()
    with time_bound(TIME_BOUND):
        result = CliRunner().invoke(main, ["analyze", str(path), "--format", "json", "-q", "-j", "1", *extra])
    return result, time.monotonic() - started


def check_outcome(exit_code, stdout, stderr, context):
    assert exit_code in (0, 1, 2), f"exit {exit_code} for {context}: {stderr.strip()}"
    assert "Traceback" not in stdout + stderr, context
    if exit_code == 2:
        message = stderr.strip()
        assert message and "\n" not in message, f"not one line on stderr for {context}: {stderr!r}"
        assert message.startswith("pcapdiag: error: "), context
        return None
    report = json.loads(stdout)
    assert REQUIRED_KEYS <= set(report), context
    capture = report["capture"]
    assert capture["packets"] >= 0 and capture["malformed"] >= 0 and capture["truncated"] >= 0
    assert capture["malformed"] + capture["truncated"] <= 2 * capture["packets"]
    assert all(isinstance(w, str) and "\n" not in w for w in capture["warnings"]), context
    return report


@pytest.mark.parametrize("seed", range(CASES), ids=_ids)
def test_mutated_capture_through_the_cli(tmp_path, seed):
    base = _case(seed)
    data, done = mutate(load_base(base), seed)
    path = tmp_path / "mutated.bin"
    path.write_bytes(data)
    context = f"seed {seed} on {base.name}: {'; '.join(done)}"
    decoder = ("--decoder", "reference") if seed % 3 == 2 else ()   # the default (fast) mostly, both covered
    result, _ = run_in_process(path, *decoder)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{type(result.exception).__name__} escaped for {context}") from result.exception
    check_outcome(result.exit_code, result.stdout, result.stderr, context)


@pytest.mark.parametrize("seed", range(0, 40, 2), ids=_ids)
def test_truncated_pcap_keeps_every_whole_record(tmp_path, seed):
    """Cut anywhere after the file header: exactly the records wholly before the cut are analysed."""
    base = load_base(_case(seed))
    if file_format(base) != "pcap":
        pytest.skip("pcapng: block-level counts are checked in test_hostile")
    data, what = truncate(base, random.Random(seed))
    if len(data) < 24:
        pytest.skip("cut inside the file header (an input error, covered elsewhere)")
    path = tmp_path / "cut.pcap"
    path.write_bytes(data)
    result, _ = run_in_process(path)
    report = check_outcome(result.exit_code, result.stdout, result.stderr, what)
    assert report["capture"]["packets"] == count_whole_records(base, len(data)), what
    damage = report["capture"]["damage"]
    boundaries = {24} | {end for _, end in record_spans(base)}
    if len(data) in boundaries:   # (timestamps and caplen > wirelen are the base file's own business)
        assert damage["truncated_tail"] == damage["trailing_garbage_bytes"] == damage["bad_records"] == 0, what
    else:   # the cut record is reported, never silently dropped
        assert damage["truncated_tail"] == 1 or damage["trailing_garbage_bytes"] > 0, (what, damage)
        assert report["capture"]["warnings"], what


@pytest.mark.parametrize("seed", range(1, 40, 2), ids=_ids)
def test_garbage_tail_keeps_every_record(tmp_path, seed):
    base = load_base(_case(seed))
    data, what = garbage_tail(base, random.Random(seed))
    path = tmp_path / "tail.bin"
    path.write_bytes(data)
    result, _ = run_in_process(path)
    report = check_outcome(result.exit_code, result.stdout, result.stderr, what)
    whole = count_whole_records(base, len(base))
    assert report["capture"]["packets"] >= whole, what
    damage = report["capture"]["damage"]
    assert damage["truncated_tail"] or damage["trailing_garbage_bytes"] or damage["bad_records"] \
        or report["capture"]["packets"] > whole, f"garbage silently dropped: {what}"


@pytest.mark.parametrize("seed", range(1000, 1000 + SUBPROCESS_CASES), ids=_ids)
def test_mutated_capture_in_a_real_process(tmp_path, seed):
    """No traceback reaches a real terminal: the CLI as a user runs it, stdout and stderr as pipes."""
    base = _case(seed)
    data, done = mutate(load_base(base), seed)
    path = tmp_path / "mutated.bin"
    path.write_bytes(data)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pcapdiag", "analyze", str(path), "--format", "json", "-q"],
                            capture_output=True, text=True, timeout=TIME_BOUND + 20)
    elapsed = time.monotonic() - started
    context = f"seed {seed} on {base.name}: {'; '.join(done)}"
    check_outcome(result.returncode, result.stdout, result.stderr, context)
    assert elapsed < TIME_BOUND + 5, f"{elapsed:.1f} s for {context}"   # interpreter start-up on top
