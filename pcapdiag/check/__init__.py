"""check/: judging captures against expectations, for CI. The library behind `pcapdiag baseline` and
`pcapdiag check`; it imports neither click nor, until a capture is analysed, pandas.

    import pcapdiag.check
    result = pcapdiag.check.check(["a.pcap", "b.pcap"], "expect.toml")   # or Expectations, or a dict
    result.passed                          # every expectation held for every capture
    print(result.to_text())                # PASS/FAIL lines with observed values and evidence
    result.to_dict(), result.to_json(), result.to_junit()

Modules: expectations (the TOML schema, validation), judge (a report against expectations), baseline
(expectations from a known-good report, as TOML), results (CheckResult and its renderings).
"""
from __future__ import annotations

import os
import time

from .baseline import baseline_from_report, render_toml
from .expectations import (ENCAP_CLASSES, KEYS, SEVERITIES, ExpectationError, Expectations, as_expectations,
                           load_expectations, parse_expectations)
from .judge import ExpectationResult, check_report
from .results import CaptureCheck, CheckResult


def check(paths, expectations, *, source: str | None = None, analyze=None, each=None, **options) -> CheckResult:
    """Analyse each capture on its own and judge it against expectations.

    Parameters
    ----------
    paths
        One capture path or a list of them (pcap/pcapng, gzip or not; "-" for stdin, read once).
    expectations
        An Expectations, a dict of keys ({"udp_port": 8472, "nodes": 3}) or the path of an expectations
        file as `pcapdiag baseline` writes it.
    source
        Where the expectations came from, for the JSON and JUnit output [default: the file's path, else ""].
    analyze
        analyze(path) -> Report, instead of pcapdiag.analyze(path, **options) (the command line passes
        its own, with a progress bar).
    each
        each(capture_check), called as soon as a capture is judged: results can be shown while the next
        capture is analysed.
    **options
        Analysis options of pcapdiag.analyze (vxlan_ports, underlay_mtu, decoder, jobs, flow_cap, ...).

    Returns
    -------
    CheckResult: .passed, .captures (a CaptureCheck per path, in order), .to_text(), .to_dict(),
    .to_json(), .to_junit().

    Raises
    ------
    ExpectationError for expectations that cannot be used (the message names the key); CaptureError for
    a capture that cannot be read. Every capture is opened before any is analysed, so a missing one
    fails before any work.

    Examples
    --------
    >>> result = check(["a.pcap", "b.pcap"], "expect.toml", jobs=2)      # doctest: +SKIP
    >>> result.passed, [c.summary() for c in result.captures]           # doctest: +SKIP
    (False, ['a.pcap: PASS, 10 of 10 expectations met', 'b.pcap: FAIL, 1 of 10 expectations failed (vni)'])
    """
    from ..capture import open_capture

    if source is None:
        source = os.fspath(expectations) if isinstance(expectations, (str, os.PathLike)) else ""
    expectations = as_expectations(expectations)
    paths = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    if analyze is not None and options:
        raise TypeError(f"check(): analysis options {sorted(options)} are pcapdiag.analyze's; with analyze= "
                        f"given, pass them to it")
    if analyze is None:
        from .. import analyze as analyze_capture

        def analyze(path):
            return analyze_capture(path, **options)

    for path in paths:
        if path != "-":
            open_capture(path).close()
    result = CheckResult(expectations, source)
    for path in paths:
        started, stamp = time.monotonic(), time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
        report = analyze(path)
        capture = CaptureCheck(path, check_report(report, expectations), time.monotonic() - started, stamp)
        result.captures.append(capture)
        if each is not None:
            each(capture)
    return result


__all__ = ["ENCAP_CLASSES", "KEYS", "SEVERITIES", "CaptureCheck", "CheckResult", "ExpectationError",
           "ExpectationResult", "Expectations", "as_expectations", "baseline_from_report", "check", "check_report",
           "load_expectations", "parse_expectations", "render_toml"]
