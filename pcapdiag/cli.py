"""The command line: a thin click layer over the library.

Exit codes: 0 success; 1 a finding at or above --fail-on (or a failed check);
2 usage or input error (one line on stderr); 3 an internal error (a bug: please report it).
Nothing heavy is imported at module level so that --help and argument errors stay fast.
"""
from __future__ import annotations

import os
import sys
import time

import click

from . import __version__
from .catalogue import SEVERITIES

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
SEVERITY_CHOICES = SEVERITIES


class InputError(click.ClickException):
    exit_code = EXIT_INPUT

    def show(self, file=None):
        click.echo(f"pcapdiag: error: {self.format_message()}", err=True)


class Progress:
    """packets, MB/s and ETA on stderr, redrawn at most a few times a second; only on a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.started = time.monotonic()
        self.last_draw = 0.0

    def __call__(self, bytes_read, size, packets):
        now = time.monotonic()
        if not self.enabled or now - self.last_draw < 0.25:
            return
        self.last_draw = now
        elapsed = max(now - self.started, 1e-6)
        rate = bytes_read / elapsed
        text = f"\r{packets:,} packets  {rate / 1e6:.1f} MB/s"
        if size:
            remaining = max(size - bytes_read, 0) / rate if rate else 0
            text += f"  {100 * bytes_read / size:5.1f}%  ETA {remaining:.0f} s"
        click.echo(text + "   ", err=True, nl=False)

    def done(self):
        if self.enabled and self.last_draw:
            click.echo("\r" + " " * 70 + "\r", err=True, nl=False)


def run_guarded(action):
    """Turn input errors into one line and exit 2, bugs into one line and exit 3: never a traceback."""
    from .capture import CaptureError

    try:
        return action()
    except CaptureError as exc:
        raise InputError(str(exc)) from None
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except BrokenPipeError:
        # the reader went away (`| head`): nothing more to say, and no traceback at interpreter exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_OK)
    except MemoryError:
        click.echo("pcapdiag: error: out of memory", err=True)
        sys.exit(EXIT_INPUT)
    except KeyboardInterrupt:
        click.echo("pcapdiag: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: say so in one line; PCAPDIAG_DEBUG=1 shows the traceback
        if os.environ.get("PCAPDIAG_DEBUG"):
            raise
        click.echo(f"pcapdiag: internal error ({type(exc).__name__}: {exc}); rerun with PCAPDIAG_DEBUG=1 and "
                   f"report it", err=True)
        sys.exit(EXIT_INTERNAL)


def analysis_options(function):
    """Options shared by every command that analyses captures."""
    options = [
        click.option("--vxlan-port", "vxlan_ports", type=click.IntRange(1, 65535), multiple=True,
                     help="Also decode this UDP port as VXLAN (default set: 4789, 8472, 4790)."),
        click.option("--underlay-mtu", type=click.IntRange(68, 65535), default=None,
                     help="Underlay MTU, instead of inferring it from the largest outer packet."),
        click.option("--decoder", type=click.Choice(["fast", "reference"]), default="fast", show_default=True,
                     help="fast: vectorised, falls back to dpkt per packet; reference: dpkt only."),
        click.option("--jobs", "-j", type=click.IntRange(1, 256), default=None,
                     help="Worker processes for large captures [default: CPU count]."),
        click.option("--flow-cap", type=click.IntRange(100, 50_000_000), default=None,
                     help="Most flows kept in memory (smallest evicted beyond it) [default: 50000]."),
        click.option("--address-cap", type=click.IntRange(10, 50_000_000), default=None, hidden=True,
                     help="Most node/pod address pairings kept [default: 50000]."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def run_analysis(files, vxlan_ports, underlay_mtu, decoder, jobs, flow_cap, quiet, address_cap=None):
    from .multi import analyze_files

    progress = Progress(enabled=not quiet and sys.stderr.isatty())
    try:
        return analyze_files(list(files), vxlan_ports=vxlan_ports, underlay_mtu=underlay_mtu, decoder=decoder,
                             jobs=jobs or os.cpu_count() or 1, flow_cap=flow_cap, address_cap=address_cap,
                             progress=progress)
    finally:
        progress.done()


class OneLineErrors(click.Group):
    """Usage errors as one line on stderr and exit 2, like input errors (click prints three lines)."""

    def main(self, *args, **kwargs):
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
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
@click.option("--format", "output_format", type=click.Choice(["text", "json", "csv"]), default="text",
              show_default=True)
@click.option("--table", type=click.Choice(["flows", "nodes", "encapsulation"]), default="flows", show_default=True,
              help="Which table --format csv writes.")
@click.option("--top", type=click.IntRange(0, 1_000_000), default=10, show_default=True,
              help="Flows shown in the text summary.")
@click.option("--fail-on", type=click.Choice(SEVERITY_CHOICES), default=None,
              help="Exit 1 when a finding of this severity or worse is present.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, allow_dash=True), default="-",
              help="Write the report here instead of stdout.")
@analysis_options
def analyze(files, output_format, table, top, fail_on, output, vxlan_ports, underlay_mtu, decoder, jobs, flow_cap,
            address_cap, quiet):
    """Analyse captures (pcap/pcapng, gzip, '-' for stdin): encapsulation, overhead, nodes and pods,
    flows and MTU findings. Several files are analysed together as one report."""

    def action():
        report = run_analysis(files, vxlan_ports, underlay_mtu, decoder, jobs, flow_cap, quiet, address_cap)
        with click.open_file(output, "w") as stream:
            if output_format == "json":
                from .report.machine import write_json
                write_json(report, stream)
            elif output_format == "csv":
                from .report.machine import render_csv
                stream.write(render_csv(report, table))
            else:
                from .report.text import render_text
                stream.write(render_text(report, top=top))
        if fail_on and report.findings_at_or_above(fail_on):
            sys.exit(EXIT_FINDINGS)

    run_guarded(action)


# `baseline` and `check` (cli_check.py) register themselves on `main` when imported
from . import cli_check  # noqa: E402,F401

def run():
    """The console script: main(), then leave without tearing the interpreter down. Freeing a big heap
    object by object is a noticeable share of a short run, and nothing is left to do but exit: the output
    is flushed first, worker processes are already gone, and no handler waits at exit. The collector is
    off for the whole (short, batch-shaped) run; pipeline.analyze_range still collects every few dozen
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
