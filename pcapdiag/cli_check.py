"""`pcapdiag baseline` and `pcapdiag check`: expectations for CI, as a thin click layer over pcapdiag.check.

    pcapdiag baseline GOOD.pcap -o expect.toml
    pcapdiag check CAPTURE... --expect expect.toml [--expect-port 8472 ...] [--format json] [--junit FILE]

Exit codes (cli_common): 0 every expectation met, 1 one failed, 2 input or usage error.
Nothing heavy is imported here at module level: pandas and the runner load when a command runs.
"""
from __future__ import annotations

import os
import sys

import click

from . import __version__
from .check.expectations import ENCAP_CLASSES, ExpectationError, Expectations, load_expectations, parse_expectations
from .cli_common import (EXIT_FINDINGS, EXIT_OK, SEVERITY_CHOICES, InputError, analysis_options, cluster_option,
                         load_cluster_files, run_analysis, run_guarded)

# the flag that sets each expectation key, for error messages about flags
FLAGS = {"encap": "--expect-encap", "udp_port": "--expect-port", "vni": "--expect-vni", "nodes": "--nodes",
         "node_addresses": "--expect-node", "pod_cidrs": "--expect-pod-cidr",
         "underlay_mtu": "--expect-underlay-mtu", "overlay_mtu": "--expect-overlay-mtu",
         "max_inner_size": "--max-inner-size", "fail_on": "--fail-on", "ignore_findings": "--ignore-finding",
         "allow_empty": "--allow-empty"}


def _write(path: str, text: str, what: str) -> None:
    try:
        with click.open_file(path, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as exc:
        raise InputError(f"cannot write {what} {path}: {exc.strerror or exc}") from None


# -- baseline --------------------------------------------------------------------

@click.command()
@click.argument("capture", type=click.Path(dir_okay=True, allow_dash=True))
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True), default="-", show_default=True,
              help="Write the expectations file here.")
@click.option("--fail-on", type=click.Choice(SEVERITY_CHOICES), default="warning", show_default=True,
              help="The fail_on severity written: checks fail on findings at or above it.")
@cluster_option
@analysis_options
def baseline(capture, output, fail_on, cluster_files, vxlan_ports, underlay_mtu, decoder, jobs, flow_cap, address_cap,
             quiet):
    """Write the expectations a known-good CAPTURE implies, as commented TOML: encapsulation classes and
    UDP ports, VNIs, node addresses, pod CIDRs per node, underlay and overlay MTU, largest inner packet
    and no finding at or above --fail-on. Edit it, then use it with `pcapdiag check --expect`."""
    from .check.baseline import render_toml

    def action():
        cluster = load_cluster_files(cluster_files, [capture])
        report = run_analysis([capture], vxlan_ports, underlay_mtu, decoder, jobs, flow_cap, quiet, address_cap,
                              cluster=cluster)
        _write(output, render_toml(report, fail_on=fail_on, version=__version__), "expectations file")
        present = report.findings_at_or_above(fail_on)
        if present:
            ids = ", ".join(sorted({f["id"] for f in present}))
            click.echo(f"pcapdiag: warning: {capture} is not clean ({ids} at or above {fail_on}): checking it "
                       f"against this baseline fails until you edit fail_on or ignore_findings", err=True)

    run_guarded(action)


# -- check -----------------------------------------------------------------------

def _int_list_flag(values):
    return list(values) if values else None


def expectations_from_flags(encap, ports, vnis, nodes, node_addresses, pod_cidrs, underlay_mtu, overlay_mtu,
                            max_inner_size, fail_on, ignore_findings, allow_empty=False) -> Expectations:
    """The --expect-* flags as Expectations, validated by the same rules as the file (errors name the flag)."""
    data = {"encap": list(encap) or None, "udp_port": _int_list_flag(ports), "vni": _int_list_flag(vnis),
            "nodes": nodes, "node_addresses": list(node_addresses) or None, "underlay_mtu": underlay_mtu,
            "overlay_mtu": overlay_mtu, "max_inner_size": max_inner_size, "fail_on": fail_on,
            "ignore_findings": list(ignore_findings) or None, "allow_empty": True if allow_empty else None}
    if pod_cidrs:
        table: dict = {}
        for item in pod_cidrs:
            node, sep, cidrs = item.partition("=")
            if not sep or not node.strip() or not cidrs.strip():
                raise InputError(f"--expect-pod-cidr: {item!r} is not NODE=CIDR[,CIDR...]")
            table.setdefault(node.strip(), []).extend(c.strip() for c in cidrs.split(",") if c.strip())
        data["pod_cidrs"] = table
    data = {key: value for key, value in data.items() if value is not None}
    try:
        return parse_expectations(data)
    except ExpectationError as exc:
        key = (exc.key or "").split(".", 1)[0]
        raise InputError(f"{FLAGS.get(key, key)}: {exc.detail}") from None


def load_all(expect_file, flags: Expectations) -> tuple[Expectations, str]:
    """The file's expectations overridden by the flags, and a name for where they came from."""
    expectations, sources = Expectations(), []
    if expect_file:
        try:
            expectations = load_expectations(expect_file)
        except ExpectationError as exc:
            text = str(exc)
            raise InputError(text if exc.key is None else f"{expect_file}: {text}") from None
        sources.append(expect_file)
    if not flags.is_empty() or flags.ignore_findings or flags.allow_empty:
        expectations = expectations.merged(flags)
        sources.append("command line")
    if expectations.is_empty():
        raise InputError("nothing to check: give --expect FILE or expectations as flags (--expect-encap, "
                         "--expect-port, --nodes, --max-inner-size, --fail-on, ...)" if not expect_file else
                         f"{expect_file}: no expectations in it (every key is commented out or missing)")
    return expectations, " + ".join(sources)


@click.command()
@click.argument("captures", nargs=-1, required=True, type=click.Path(dir_okay=True, allow_dash=True))
@click.option("--expect", "expect_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Expectations file (TOML, as `pcapdiag baseline` writes it).")
@click.option("--expect-encap", multiple=True, metavar="CLASS",
              help=f"Encapsulation class expected (repeatable): {', '.join(ENCAP_CLASSES)}.")
@click.option("--expect-port", multiple=True, type=int, metavar="PORT", help="Tunnel UDP port expected (repeatable).")
@click.option("--expect-vni", multiple=True, type=int, metavar="VNI", help="VNI expected (repeatable).")
@click.option("--nodes", "expect_nodes", type=int, default=None, metavar="N", help="Number of nodes expected.")
@click.option("--expect-node", multiple=True, metavar="IP",
              help="Node (underlay) address expected (repeatable): the capture must show exactly these nodes, "
                   "no more and no fewer.")
@click.option("--expect-pod-cidr", multiple=True, metavar="NODE=CIDR[,CIDR]",
              help="Pod CIDRs expected behind a node (repeatable).")
@click.option("--expect-underlay-mtu", type=int, default=None, metavar="MTU", help="Underlay MTU expected.")
@click.option("--expect-overlay-mtu", type=int, default=None, metavar="MTU", help="Overlay MTU expected.")
@click.option("--max-inner-size", type=int, default=None, metavar="BYTES",
              help="Largest inner IP packet allowed.")
@click.option("--fail-on", type=click.Choice(SEVERITY_CHOICES), default=None,
              help="Fail when a finding of this severity or worse is present.")
@click.option("--ignore-finding", multiple=True, metavar="ID",
              help="Finding id exempt from --fail-on (repeatable); an unknown id is an error.")
@click.option("--allow-empty", is_flag=True,
              help="Pass a capture with no IP packets (by default it fails: a wrong capture filter proves nothing).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Also write JUnit XML here: one test suite per capture, one test case per expectation.")
@cluster_option
@analysis_options
def check(captures, expect_file, expect_encap, expect_port, expect_vni, expect_nodes, expect_node, expect_pod_cidr,
          expect_underlay_mtu, expect_overlay_mtu, max_inner_size, fail_on, ignore_finding, allow_empty,
          output_format, junit_file, cluster_files, vxlan_ports, underlay_mtu, decoder, jobs, flow_cap, address_cap,
          quiet):
    """Compare each CAPTURE with expectations (--expect FILE and/or flags; flags override the file):
    one PASS/FAIL line per expectation with the observed value and evidence. Exit 0 when every
    expectation holds for every capture, 1 when one fails, 2 on an input or usage error."""
    from .check import check as check_captures

    flags = expectations_from_flags(expect_encap, expect_port, expect_vni, expect_nodes, expect_node,
                                    expect_pod_cidr, expect_underlay_mtu, expect_overlay_mtu, max_inner_size,
                                    fail_on, ignore_finding, allow_empty)
    expectations, source = load_all(expect_file, flags)
    if list(captures).count("-") > 1:
        raise InputError("stdin ('-') can be read only once")
    if junit_file and not os.path.isdir(os.path.dirname(os.path.abspath(junit_file))):
        raise InputError(f"cannot write JUnit file {junit_file}: its directory does not exist")
    several = len(captures) > 1
    cluster = load_cluster_files(cluster_files, captures)

    def show(capture):  # as each capture is judged, a blank line after each when there are several
        click.echo(capture.to_text() + ("\n" if several else ""))

    def action():
        result = check_captures(captures, expectations, source=source, each=show if output_format == "text" else None,
                                analyze=lambda path: run_analysis([path], vxlan_ports, underlay_mtu, decoder, jobs,
                                                                  flow_cap, quiet, address_cap, cluster=cluster))
        if output_format == "text" and several:
            click.echo(result.totals())
        if output_format == "json":
            click.echo(result.to_json(), nl=False)
        if junit_file:
            _write(junit_file, result.to_junit(), "JUnit file")
        sys.exit(EXIT_OK if result.passed else EXIT_FINDINGS)

    run_guarded(action)


__all__ = ["baseline", "check", "expectations_from_flags", "load_all"]
