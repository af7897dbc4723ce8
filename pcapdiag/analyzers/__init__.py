"""analyzers/: mergeable per-analyzer state over packet-fact batches (update / merge / result). The judgement
made from their results, the findings, is pcapdiag/findings/."""
from .duplicates import DuplicateMarker
from .flows import FlowAnalyzer
from .mtu import MtuAnalyzer
from .overhead import NOMINAL_OVERHEAD, OverheadAnalyzer, TUNNEL_CLASSES
from .stats import CaptureStats
from .topology import TopologyAnalyzer


class AnalyzerSet:
    """Every analyzer of one capture (or chunk); merge() combines chunks analysed in parallel."""

    def __init__(self, flow_cap=None, continuation: bool = False, underlay_mtu=None, address_cap=None):
        """continuation: this state will be merged after another's (a later chunk or file)."""
        self.stats = CaptureStats()
        self.flows = FlowAnalyzer(**({"cap": flow_cap} if flow_cap else {}), continuation=continuation)
        self.overhead = OverheadAnalyzer()
        self.topology = TopologyAnalyzer(**({"cap": address_cap} if address_cap else {}))
        self.mtu = MtuAnalyzer(underlay_mtu, continuation=continuation)

    def analyzers(self):
        return (self.stats, self.flows, self.overhead, self.topology, self.mtu)

    def update(self, facts) -> None:
        """Frame counters see every frame; flows and MTU evidence see each distinct packet once."""
        distinct = facts[~facts["duplicate"]] if "duplicate" in facts and facts["duplicate"].any() else facts
        self.stats.update(facts)
        self.overhead.update(facts)
        self.topology.update(facts)
        self.flows.update(distinct)
        self.mtu.update(distinct)

    def merge(self, other: "AnalyzerSet") -> None:
        for mine, theirs in zip(self.analyzers(), other.analyzers()):
            mine.merge(theirs)


__all__ = ["AnalyzerSet", "CaptureStats", "DuplicateMarker", "FlowAnalyzer", "MtuAnalyzer", "NOMINAL_OVERHEAD",
           "OverheadAnalyzer", "TUNNEL_CLASSES", "TopologyAnalyzer"]
