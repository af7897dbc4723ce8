"""One streaming pass: capture/ -> decode/ -> analyzers/ -> Report."""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass

from . import __version__
from .analyzers import AnalyzerSet, DuplicateMarker
from .capture import CaptureError, open_capture
from .decode import DEFAULT_VXLAN_PORTS
from .decode.select import make_decoder
from .findings.budgets import mtu_model, super_segment_flows
from .findings.builder import FindingBuilder
from .report.model import Report

BATCH_RECORDS = 32768  # smaller ones cost more per packet; larger are no faster and cost memory (measured)
# The collector is paused while batches stream: its passes over every container would run every few
# thousand allocations, for the few dozen cyclic objects a batch leaves; a full pass every this many
# batches bounds that garbage instead.
COLLECT_EVERY = 64


@dataclass(frozen=True)
class Settings:
    """What every worker needs to analyse a file or a chunk the same way (picklable)."""
    vxlan_ports: frozenset = DEFAULT_VXLAN_PORTS
    decoder: str = "fast"
    flow_cap: int | None = None
    underlay_mtu: int | None = None
    address_cap: int | None = None

    @classmethod
    def make(cls, vxlan_ports=(), decoder="fast", flow_cap=None, underlay_mtu=None, address_cap=None) -> "Settings":
        ports = frozenset(DEFAULT_VXLAN_PORTS) | frozenset(int(p) for p in vxlan_ports)
        return cls(ports, decoder, flow_cap, underlay_mtu, address_cap)

    def analyzers(self, continuation: bool = False) -> AnalyzerSet:
        return AnalyzerSet(self.flow_cap, continuation=continuation, underlay_mtu=self.underlay_mtu,
                           address_cap=self.address_cap)


def analyze(path: str, *, vxlan_ports=(), underlay_mtu: int | None = None, decoder: str = "fast",
            jobs: int | None = 1, flow_cap: int | None = None, address_cap: int | None = None,
            progress=None) -> Report:
    """Analyse one capture file ("-" for stdin) and return its Report.

    vxlan_ports adds UDP ports decoded as VXLAN to the default set (4789, 8472, 4790);
    underlay_mtu overrides the MTU inferred from the largest outer packet; decoder is
    "fast" (vectorised, falls back to dpkt per packet) or "reference" (dpkt only);
    jobs > 1 splits a large uncompressed pcap or pcapng into chunks analysed in parallel processes.
    """
    settings = Settings.make(vxlan_ports, decoder, flow_cap, underlay_mtu, address_cap)
    from .parallel import analyze_parallel, plan_chunks

    chunks = plan_chunks(path, jobs) if jobs and jobs > 1 else None
    if chunks:
        state, info = analyze_parallel(path, chunks, settings, progress)
    else:
        state, info = analyze_range(path, settings, progress=progress)
    return build_report(path, state, info, underlay_mtu)


def analyze_range(path, settings: Settings, start=None, end=None, progress=None, continuation=False):
    """Analyse the records of one file (or of the byte range [start, end) of it); continuation: the
    result will be merged after the state of an earlier range or file."""
    state = settings.analyzers(continuation)
    decoder = make_decoder(settings.decoder, settings.vxlan_ports)
    duplicates = DuplicateMarker()
    collecting = gc.isenabled()
    gc.disable()
    try:
        with open_capture(path, start=start, end=end) as capture:
            for index, batch in enumerate(capture.batches(BATCH_RECORDS)):
                facts = decoder.decode_batch(batch)
                duplicates.mark(facts)
                state.update(facts)
                if progress:
                    progress(capture.bytes_read, capture.size, state.stats.packets)
                if index % COLLECT_EVERY == COLLECT_EVERY - 1:
                    gc.collect()
            info = {"format": capture.format, "link_types": list(capture.link_types),
                    "damage": dict(capture.damage), "warnings": list(capture.warnings),
                    "nanosecond": capture.nanosecond, "compressed": capture.compressed,
                    "exact_end": getattr(capture, "reached_end_exactly", True),
                    "path": path, "first_ts": capture.first_ts, "last_ts": capture.last_ts}
    finally:
        if collecting:
            gc.enable()
    return state, info


def build_report(path, state: AnalyzerSet, info: dict, underlay_mtu=None) -> Report:
    overhead = state.overhead.result()
    topology = state.topology.result()
    flows = state.flows.result()
    model = mtu_model(overhead, state.mtu, underlay_mtu, super_segment_flows(flows))
    limits = {"flow_cap": state.flows.cap, "evicted_flows": state.flows.evicted_flows,
              "evicted_packets": state.flows.evicted_packets, "address_cap": state.topology.cap,
              "addresses_dropped": topology["dropped"]}
    findings = FindingBuilder(model, overhead, topology, flows, state.mtu, state.stats, info, limits).build()
    name = "-" if path == "-" else os.path.basename(path)
    return Report(version=__version__, file=name, info=info, stats=state.stats, overhead=overhead,
                  topology=topology, flows=flows, mtu=model, findings=findings)


__all__ = ["analyze", "analyze_range", "build_report", "CaptureError", "Settings"]
