"""The capture.* checks: what about the capture itself limits what the report can say (offload, damaged or
unusual packets, a damaged file, the memory caps)."""
from __future__ import annotations

from .budgets import super_segment_text
from .evidence import EXAMPLES, packet, packet_text, with_text


def offload(b):
    super_flows = b.super_flows
    frames = b.mtu.offload_frames
    if not frames and not super_flows:
        return
    artefacts = b.stats.counts["bad_outer_checksum"] if frames else 0
    what = []
    if frames:
        what.append(f"{frames} GSO/GRO/TSO super-frames or partially checksummed packets")
    if super_flows:
        what.append(f"{len(super_flows)} TCP flow(s) with segments larger than the negotiated MSS")
    consequence = "sizes in this capture are not wire sizes, so MTU findings are marked unreliable"
    if b.model["sizes_reliable"]:   # partial checksums only (tx checksum offload): every frame fits the link
        what = [f"{frames} partially checksummed packets (tx checksum offload)"]
        consequence = "none is larger than the link carries, so their sizes are wire sizes"
    examples = [packet(e) for e in b.stats.examples.get("offload", [])]
    b.add("capture.offload",
          f"{' and '.join(what)}: {consequence}"
          + (f"; {artefacts} outer checksums fail as an offload artefact, not a fault" if artefacts else ""),
          frames + len(super_flows),
          with_text({"largest_outer_ip": b.mtu.max_outer_len_any, "offload_frames": frames,
                     "super_segment_flows": len(super_flows), "examples": examples,
                     "failed_checksums_ignored": artefacts, "flows": super_flows[:EXAMPLES]},
                    ("flow", [super_segment_text(item) for item in super_flows]),
                    ("example", [packet_text(item) for item in examples])),
          fix=b.fix("capture.offload"))


def _counted(finding_id: str, counter: str, text: str):
    """A check for packets a capture counter counts (CaptureStats.counts), with its example packets."""
    def check(b):
        count = b.stats.counts[counter]
        if count:
            examples = [packet(e) for e in b.stats.examples.get(counter, [])]
            b.add(finding_id, f"{count} {text}", count,
                  with_text({"examples": examples}, ("example", [packet_text(item) for item in examples])))
    return check


truncated = _counted("capture.truncated", "truncated", "packets were cut by the snaplen before their headers "
                                                       "ended; they are counted but not fully decoded")
malformed = _counted("capture.malformed", "malformed", "packets have headers that do not parse (bad lengths or "
                                                       "fields); they are counted, not decoded")
too_deep = _counted("capture.too-deep", "too_deep", "packets nest tunnels deeper than 4 levels; unwrapping stopped "
                                                    "there")


def _file_damaged(b) -> bool:
    return any(v for k, v in b.capture_damage.items() if k != "ts_backwards")


def damaged(b):
    if _file_damaged(b):
        warnings = b.capture_warnings
        b.add("capture.damaged", "the capture file is damaged: " + "; ".join(warnings), len(warnings),
              with_text({"warnings": warnings, "counters": {k: v for k, v in b.capture_damage.items() if v}},
                        ("warning", warnings)))


def out_of_order(b):
    # `-i any` and merged captures interleave interfaces: out of order is expected there, not damage (and a
    # damaged file says so in capture.damaged instead)
    backwards = b.capture_damage.get("ts_backwards")
    if backwards and not _file_damaged(b):
        b.add("capture.out-of-order", "; ".join(b.capture_warnings), backwards,
              with_text({"warnings": b.capture_warnings}, ("warning", b.capture_warnings)))


def flow_cap(b):
    """The flow table's memory bound was reached: say what the report leaves out."""
    limits = b.limits
    if limits.get("evicted_flows"):
        b.add("capture.flow-cap",
              f"the flow table cap ({limits['flow_cap']}) was hit: {limits['evicted_flows']} smallest flows "
              f"({limits['evicted_packets']} packets) are not listed", limits["evicted_flows"],
              with_text({"cap": limits["flow_cap"], "evicted_packets": limits["evicted_packets"]}),
              fix=b.fix("capture.flow-cap"))


def address_cap(b):
    """The address table's memory bound was reached: say what the report leaves out."""
    limits = b.limits
    if limits.get("addresses_dropped"):
        b.add("capture.address-cap",
              f"the address cap ({limits['address_cap']} node/pod pairings) was hit: "
              f"{limits['addresses_dropped']} more were seen, so node pod lists are incomplete",
              limits["addresses_dropped"], with_text({"cap": limits["address_cap"]}))
