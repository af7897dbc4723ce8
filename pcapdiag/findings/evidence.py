"""Structured evidence (JSON contract 2): flows, node pairs, example packets and times as objects a script
can use, and the few text lines per finding the text report shows beside the one-sentence summary."""
from __future__ import annotations

from ..report.model import PROTO_NAMES, _iso as iso

EXAMPLES = 5     # items of each kind kept in a finding's evidence
TEXT_LINES = 3   # lines of each kind the text report shows


def span(first, last) -> dict:
    """When the evidence was seen: epoch seconds, and ISO-8601 UTC beside them."""
    first, last = float(first), float(last)
    return {"first": first, "last": last, "first_iso": iso(first), "last_iso": iso(last)}


def present(value):
    """An int, or None where the evidence has none (the analyzers write -1 for absent)."""
    return None if value is None or int(value) < 0 else int(value)


def flow(src, dst, proto=None, sport=None, dport=None, encap=None, outer_src=None, outer_dst=None, vni=None,
         **numbers) -> dict:
    """A flow as the contract's object: the keys of the report's flows, null where this evidence does not
    know them, then the finding's numbers about it."""
    return {"proto": None if proto is None else PROTO_NAMES.get(int(proto), str(proto)), "src": src,
            "sport": present(sport), "dst": dst, "dport": present(dport), "encap": encap,
            "outer_src": outer_src, "outer_dst": outer_dst, "vni": present(vni), **numbers}


def table_flow(row, **numbers) -> dict:
    """A row of the flows table (FlowAnalyzer.result().table) as a flow object."""
    tunnelled = row.encap != "native"
    return flow(row.inner_src, row.inner_dst, row.inner_proto, row.sport, row.dport, row.encap,
                row.outer_src if tunnelled else None, row.outer_dst if tunnelled else None, row.vni, **numbers)


def node_pair(cls, src, dst, **numbers) -> dict:
    """Two underlay addresses (tunnel endpoints), as the report's node_pairs name them."""
    return {"type": cls, "src": src, "dst": dst, **numbers}


def frame_of(row) -> dict:
    """{"frame": n} when an evidence row carries the record number of its (first) packet in the capture
    file, as Wireshark numbers it (1-based), so the engineer can jump to it; {} when it does not."""
    frame = row.get("frame") if isinstance(row, dict) else getattr(row, "frame", None)
    return {} if frame is None or int(frame) < 1 else {"frame": int(frame)}


def instant(ts) -> dict:
    """One packet's time: epoch seconds, and ISO-8601 UTC beside them."""
    return {"ts": ts, "ts_iso": iso(ts)}


def packet(example: dict) -> dict:
    """An example packet (CaptureStats.examples): its time, frame number where known, and description."""
    return {**instant(example["ts"]), **frame_of(example), "packet": example["packet"]}


def frame_suffix(item: dict) -> str:
    return f" (frame {item['frame']})" if "frame" in item else ""


def pairs_text(item: dict) -> str:
    """key=value, ... for an evidence object (its time left out: the summary line gives the span)."""
    return ", ".join(f"{k}={v}" for k, v in item.items() if v is not None and k != "ts")


def text_lines(label: str, texts) -> list[str]:
    """The first few of a kind of evidence as the text report's lines ("flow: ...")."""
    return [f"{label}: {text}" for text in list(texts)[:TEXT_LINES]]


def with_text(evidence: dict, *groups) -> dict:
    """The evidence with text lines added (after any it has); groups are (label, texts) pairs in the order
    shown."""
    return {**evidence, "text": evidence.get("text", []) + [line for label, texts in groups
                                                            for line in text_lines(label, texts)]}


def packet_text(item: dict) -> str:
    return f"packet={item['packet']}" + frame_suffix(item)
