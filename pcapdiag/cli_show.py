"""Commands and options that hand over pictures and packets: the HTML report (`analyze --format html`),
the evidence export (`analyze --export DIR`) and `decap`. Thin: the work is in report/html.py,
report/series.py, export.py and decap.py."""
from __future__ import annotations

import os

import click

from .cli_common import InputError, run_guarded

EXPORT_OPTIONS = (
    click.option("--export", "export_dir", type=click.Path(file_okay=False), default=None,
                 help="Write DIR/<finding id>.pcapng with the packets behind each finding (a second read of "
                      "the capture; not for stdin)."),
    click.option("--export-limit", type=click.IntRange(1), default=1000, show_default=True,
                 help="Packets written per exported file at most."),
    click.option("--export-flow", "export_flows", multiple=True, metavar="SPEC",
                 help="Also export one inner flow: 'SRC[:PORT]>DST[:PORT]' ('<>' for both ways) into DIR."),
    click.option("--export-pair", "export_pairs", multiple=True, metavar="A>B",
                 help="Also export every frame between two nodes (outer addresses; '<>' for both ways) into DIR."),
)


def export_options(command):
    for option in reversed(EXPORT_OPTIONS):
        command = option(command)
    return command


def render_html_report(report, files, vxlan_ports, decoder) -> str:
    """The HTML page of an analysis; its histograms and timelines come from a second read of the files."""
    from .report.html import render_html
    from .report.series import collect_series

    if "-" in files:
        raise InputError("--format html reads the capture twice (for its charts): give a file, not stdin")
    series = collect_series(files[0], vxlan_ports=vxlan_ports, decoder=decoder) if len(files) == 1 else None
    return render_html(report, series)


def write_exports(report, files, export_dir, limit, flows, pairs, vxlan_ports, decoder) -> None:
    """--export and friends: one pcapng per finding (and per chosen flow or node pair); the counts on stderr."""
    from .export import export_evidence, export_flow, export_pair

    if len(files) != 1 or files[0] == "-":
        raise InputError("--export reads the capture again: give exactly one capture file")
    os.makedirs(export_dir, exist_ok=True)
    path, options = files[0], {"vxlan_ports": vxlan_ports, "decoder": decoder}
    try:
        written = export_evidence(path, report, export_dir, limit, **options)
        for index, spec in enumerate(flows, 1):
            written[f"flow-{index}"] = export_flow(path, os.path.join(export_dir, f"flow-{index}.pcapng"), spec,
                                                   limit, **options)
        for index, spec in enumerate(pairs, 1):
            written[f"pair-{index}"] = export_pair(path, os.path.join(export_dir, f"pair-{index}.pcapng"), spec,
                                                   limit, **options)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    for name, count in written.items():
        click.echo(f"exported {count} packet(s) to {os.path.join(export_dir, name)}.pcapng", err=True)


@click.command()
@click.argument("capture", type=click.Path(dir_okay=False, allow_dash=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, writable=True),
              help="The pcapng file to write.")
@click.option("--class", "classes", multiple=True, help="Keep only these tunnel classes (vxlan, geneve, ipip, ...).")
@click.option("--pair", default=None, metavar="A>B", help="Keep only this node pair (outer addresses; '<>' both ways).")
@click.option("--vni", "vnis", multiple=True, type=int, help="Keep only these VNIs / GRE keys.")
@click.option("--keep-native", is_flag=True, help="Also write the frames that are not tunnelled, as they are.")
@click.option("--vxlan-port", "vxlan_ports", multiple=True, type=click.IntRange(1, 65535),
              help="Decode this UDP port as VXLAN too (repeatable).")
@click.option("--decoder", type=click.Choice(["fast", "reference"]), default="fast", show_default=True)
def decap(capture, output, classes, pair, vnis, keep_native, vxlan_ports, decoder):
    """Write the inner packets of every tunnel in CAPTURE as pcapng (original timestamps; each packet
    commented with its class, VNI, node pair and outer sizes)."""

    def action():
        from .decap import decap as run_decap

        try:
            counts = run_decap(capture, output, classes=set(classes) or None, pair=pair, vni=set(vnis) or None,
                               keep_native=keep_native, vxlan_ports=vxlan_ports, decoder=decoder)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        classes_text = ", ".join(f"{name} {n}" for name, n in sorted(counts["decapsulated"].items())) or "none"
        click.echo(f"{counts['written']} packet(s) written to {output} from {counts['records']} record(s): "
                   f"decapsulated {classes_text}; native kept {counts['native']}, filtered {counts['filtered']}, "
                   f"undecodable {counts['undecodable']}", err=True)

    run_guarded(action)
