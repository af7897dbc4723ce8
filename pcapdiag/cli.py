"""The command line: the `pcapdiag` group, a thin click layer over the library.

Commands: analyze (here), baseline and check (cli_check.py); what they share is in cli_common.py.
Exit codes: 0 success; 1 a finding at or above --fail-on (or a failed check);
2 usage or input error (one line on stderr); 3 an internal error (a bug: please report it).
Nothing heavy is imported at module level so that --help and argument errors stay fast.
"""
from __future__ import annotations

import os
import sys

import click

from . import __version__
from .cli_check import baseline, check
from .cli_common import (EXIT_FINDINGS, EXIT_INPUT, EXIT_OK, SEVERITY_CHOICES, analysis_options, cluster_option,
                         load_cluster_files, run_analysis, run_guarded)
from .cli_show import decap, export_options, render_html_report, write_exports

CSV_TABLE_CHOICES = ("flows", "nodes", "encapsulation", "endpoints")   # report.machine.CSV_TABLES, kept light


class OneLineErrors(click.Group):
    """Usage errors as one line on stderr and exit 2, like input errors (click prints three lines)."""

    def main(self, *args, **kwargs):
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            # bare `pcapdiag`: the help is what was asked for, not an error
            click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
            sys.exit(EXIT_OK)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            click.echo(f"pcapdiag: error: {exc.format_message()}{hint}", err=True)
            sys.exit(EXIT_INPUT)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("pcapdiag: interrupted", err=True)
            sys.exit(130)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pcapdiag")
def main():
    """Diagnose Kubernetes overlay networks (VXLAN, Geneve, IPIP, native/BGP) from packet captures."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True, allow_dash=True))
@click.option("--format", "output_format", type=click.Choice(["text", "json", "csv", "html"]), default="text",
              show_default=True, help="html: one self-contained page with charts (use -o FILE).")
@click.option("--table", type=click.Choice(list(CSV_TABLE_CHOICES)), default=None,
              help="Which table --format csv writes [default: flows]; endpoints: the MTU of each pod and node.")
@click.option("--top", type=click.IntRange(0, 1_000_000), default=10, show_default=True,
              help="Flows shown in the text summary.")
@click.option("--fail-on", type=click.Choice(SEVERITY_CHOICES), default=None,
              help="Exit 1 when a finding of this severity or worse is present.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, allow_dash=True), default="-",
              help="Write the report here instead of stdout.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on a Dask cluster: its scheduler (tcp://host:8786), or 'local' for a LocalCluster of "
                   "--jobs processes. Paths are read as its workers see them. Needs pcapdiag[dask].")
@cluster_option
@analysis_options
@export_options
def analyze(files, output_format, table, top, fail_on, output, scheduler, cluster_files, vxlan_ports, underlay_mtu,
            decoder, jobs, flow_cap, address_cap, quiet, export_dir, export_limit, export_flows, export_pairs):
    """Analyse captures (pcap/pcapng, gzip, '-' for stdin; a directory or a quoted glob stands for its captures
    in capture start-time order): encapsulation, overhead, nodes and pods, flows and MTU findings. Several
    captures of one incident are analysed together as one report that counts each packet once, and matched
    packet by packet: what went between them ("Between captures")."""

    if table is not None and output_format != "csv":
        raise click.UsageError(f"--table {table} is for --format csv (the {output_format} report has every table)")

    def action():
        from .inputs import expand_inputs

        cluster = load_cluster_files(cluster_files, files)
        paths = expand_inputs(list(files))   # once: --format html and --export read the captures again
        report = run_analysis(paths, vxlan_ports, underlay_mtu, decoder, jobs, flow_cap, quiet, address_cap,
                              scheduler=scheduler, cluster=cluster)
        with click.open_file(output, "w") as stream:
            if output_format == "json":
                from .report.machine import write_json
                write_json(report, stream)
            elif output_format == "html":
                stream.write(render_html_report(report, paths, vxlan_ports, decoder))
            elif output_format == "csv":
                from .report.machine import render_csv
                stream.write(render_csv(report, table or "flows"))
            else:
                from .report.text import render_text
                stream.write(render_text(report, top=top))
        if export_dir:
            write_exports(report, paths, export_dir, export_limit, export_flows, export_pairs, vxlan_ports, decoder)
        failing = report.findings_at_or_above(fail_on) if fail_on else []
        if failing:
            if output != "-" or output_format != "text":   # the reader may not see the report: say why
                ids = ", ".join(dict.fromkeys(f["id"] for f in failing))
                click.echo(f"pcapdiag: {len(failing)} finding(s) at or above {fail_on} ({ids}): exit "
                           f"{EXIT_FINDINGS}", err=True)
            sys.exit(EXIT_FINDINGS)

    run_guarded(action)


main.add_command(baseline)
main.add_command(check)
main.add_command(decap)


def run():
    """The console script: main(), then leave without tearing the interpreter down. Freeing a big heap
    object by object is a noticeable share of a short run, and nothing is left to do but exit: the output
    is flushed first, worker processes are already gone, and no handler waits at exit. The collector is
    off for the whole (short, batch-shaped) run; runner.run_unit still collects every few dozen
    batches."""
    import gc

    gc.disable()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    run()
