"""Machine output: JSON per the contract in DESIGN.md, CSV one table at a time."""
from __future__ import annotations

import io
import json
import math

CSV_TABLES = ("flows", "nodes", "encapsulation", "endpoints")
CSV_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"   # ISO-8601 UTC, as the JSON writes times


def _clean(value):
    """JSON has no NaN or numpy scalars: make everything plain."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def render_json(report) -> str:
    stream = io.StringIO()
    write_json(report, stream)
    return stream.getvalue()


_FLOWS_PLACEHOLDER = "\x00flows\x00"


def write_json(report, stream) -> None:
    """The JSON contract, written as it is made: the flow list (up to the flow cap) goes out a flow
    per line instead of being held, cleaned and indented as one string beside the report."""
    head = _clean(report.to_dict(flows=False))
    head["flows"] = _FLOWS_PLACEHOLDER
    before, after = json.dumps(head, indent=2).split(json.dumps(_FLOWS_PLACEHOLDER), 1)
    stream.write(before + "[")
    separator = "\n    "
    for record in report.flow_records():     # plain values already (Report.flow_records)
        stream.write(separator + json.dumps(record))
        separator = ",\n    "
    stream.write(("\n  ]" if separator != "\n    " else "]") + after + "\n")


def render_csv(report, table: str) -> str:
    """One table (CSV_TABLES) as CSV: integers as integers, a missing value as an empty field."""
    frame = {"flows": lambda: report.flows_table, "nodes": lambda: report.nodes_table,
             "encapsulation": lambda: report.encapsulation_table,
             "endpoints": lambda: report.endpoints_table}[table]()
    frame = frame if report.context is None else report.context.name_columns(frame, table)
    return frame.to_csv(index=False, date_format=CSV_TIME_FORMAT)
