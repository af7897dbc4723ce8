"""What the commands share: exit codes, one-line input errors, the never-a-traceback guard, the progress
bar, the analysis options and the one call that runs an analysis. Imported by cli.py and cli_check.py,
it imports neither: the commands depend on it, never the other way round. Nothing heavy at module level.
"""
from __future__ import annotations

import os
import sys
import time

import click

from .catalogue import SEVERITIES

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
# Every IPv4 host must take 576-byte datagrams (RFC 791, RFC 1122 3.3.3): a path with a smaller MTU carries
# no tunnel at all, and "set the pod MTU to 18" is what a typo for 1500 would otherwise give.
MIN_UNDERLAY_MTU = 576
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
        self.tasks = ""

    def tasks_done(self, done: int, total: int):
        """On a cluster: the tasks finished so far, shown before the packets."""
        self.tasks = f"{done}/{total} tasks  "

    def __call__(self, bytes_read, size, packets):
        now = time.monotonic()
        if not self.enabled or now - self.last_draw < 0.25:
            return
        self.last_draw = now
        elapsed = max(now - self.started, 1e-6)
        rate = bytes_read / elapsed
        text = f"\r{self.tasks}{packets:,} packets  {rate / 1e6:.1f} MB/s"
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
        click.option("--underlay-mtu", type=click.IntRange(MIN_UNDERLAY_MTU, 65535), default=None,
                     help="Underlay MTU, instead of inferring it from the largest outer packet "
                          f"({MIN_UNDERLAY_MTU}-65535; an IPv6 underlay needs at least 1280)."),
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


def cluster_option(function):
    """--cluster FILE (repeatable): a kubectl dump of the cluster, for names and cross-checks."""
    return click.option("--cluster", "cluster_files", multiple=True, metavar="FILE",
                        type=click.Path(dir_okay=False, allow_dash=True),
                        help="kubectl get nodes,pods,services -A -o json output (JSON, YAML, gzip; repeatable): "
                             "names beside addresses and the cluster's view held against the capture.")(function)


def load_cluster_files(files, captures=()):
    """The Cluster of the --cluster files (None without any); a dump it cannot use is an input error."""
    if not files:
        return None
    if "-" in files and "-" in captures or list(files).count("-") > 1:
        raise InputError("stdin ('-') can be read only once")
    from .cluster import ClusterError, load_cluster

    try:
        return load_cluster(*files)
    except ClusterError as exc:
        raise InputError(str(exc)) from None


def stderr_is_terminal() -> bool:
    """The progress bar only on a terminal: a redirected stderr (a log file, CI) gets no redraws."""
    return sys.stderr.isatty()


def run_analysis(files, vxlan_ports, underlay_mtu, decoder, jobs, flow_cap, quiet, address_cap=None, scheduler=None,
                 cluster=None):
    """One report of the files, with a progress bar on a terminal: the one place the commands call the runner.
    scheduler: run on that Dask cluster ("local": a LocalCluster of `jobs` processes); cluster: a loaded
    Cluster (load_cluster_files) or None."""
    from . import runner

    progress = Progress(enabled=not quiet and stderr_is_terminal())
    options = dict(vxlan_ports=vxlan_ports, underlay_mtu=underlay_mtu, decoder=decoder,
                   jobs=jobs or os.cpu_count() or 1, flow_cap=flow_cap, address_cap=address_cap, progress=progress,
                   cluster=cluster)
    try:
        if not scheduler:
            report = runner.analyze(list(files), **options)
        else:
            from .dask_engine import SchedulerError, cluster_engine, open_client

            try:
                with open_client(scheduler, jobs) as client:
                    report = runner.analyze(list(files), engine=cluster_engine(client), **options)
            except SchedulerError as exc:
                raise InputError(str(exc)) from None
    finally:
        progress.done()
    for warning in report.mtu_warnings():
        click.echo(f"pcapdiag: warning: {warning}", err=True)
    return report
