"""The topology.* checks: what the node/pod map says cannot be right."""
from __future__ import annotations

from .evidence import EXAMPLES, pairs_text, with_text


def pod_ip_conflict(b):
    conflicts = b.topology.conflicts
    if not conflicts:
        return
    first = conflicts[0]
    shown = conflicts[:EXAMPLES]
    b.add("topology.pod-ip-conflict",
          f"pod IP {first['pod']} appears behind {len(first['nodes'])} nodes ({', '.join(first['nodes'])})"
          + (f" and {len(conflicts) - 1} more addresses do too" if len(conflicts) > 1 else ""),
          len(conflicts), with_text({"conflicts": shown}, ("conflict", [pairs_text(c) for c in shown])),
          fix=b.fix("topology.pod-ip-conflict"))
