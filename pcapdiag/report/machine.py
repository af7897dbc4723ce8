"""Machine output: JSON per the contract in DESIGN.md, CSV one table at a time."""
from __future__ import annotations

import json
import math

CSV_TABLES = ("flows", "nodes", "encapsulation")


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
    return json.dumps(_clean(report.to_dict()), indent=2) + "\n"


def render_csv(report, table: str) -> str:
    frame = {"flows": report.flows_table, "nodes": report.nodes_table,
             "encapsulation": report.encapsulation_table}[table]
    return frame.to_csv(index=False)
