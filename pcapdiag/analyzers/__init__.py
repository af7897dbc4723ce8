"""analyzers/: mergeable per-analyzer state over packet-fact batches (the judgement made from their results,
the findings, is pcapdiag/findings/).

Every analyzer follows one contract (Analyzer): update(facts) per batch, merge(other) to take on the state of
the *following* chunk or file, result() -> a frozen dataclass. The analyzers of one analysis are a list
(make_analyzers); the runner feeds, merges and reads them only through the functions below.
"""
from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

from .delivery import DeliveryAnalyzer, DeliveryResult
from .duplicates import DUPLICATE_COLUMN, DuplicateMarker
from .flows import FlowAnalyzer, FlowsResult
from .mtu import FRAME as FRAME_COLUMN, MtuAnalyzer, MtuEvidence
from .overhead import NOMINAL_OVERHEAD, OverheadAnalyzer, OverheadResult, TUNNEL_CLASSES
from .sessions import SessionsAnalyzer, SessionsResult
from .stats import CaptureStats, StatsResult
from .topology import TopologyAnalyzer, TopologyResult


class Analyzer(Protocol):
    """What every analyzer is. name: the key of its result (results()); distinct_only: True when it sees
    each distinct packet once (frames marked DUPLICATE_COLUMN left out), False when it sees every frame;
    reads: the fact columns it reads (all in the facts schema, test_runner checks)."""

    name: ClassVar[str]
    distinct_only: ClassVar[bool]
    reads: ClassVar[tuple[str, ...]]

    def update(self, facts) -> None: ...

    def merge(self, other) -> None: ...

    def result(self) -> Any: ...   # a frozen dataclass


@runtime_checkable
class CarriesState(Protocol):
    """An analyzer that keeps state only for a merge that follows (flows: TCP sequence ranges)."""

    def forget_carry(self) -> None: ...


@runtime_checkable
class NumbersFrames(Protocol):
    """An analyzer whose evidence names frames (FRAME_COLUMN of the facts, numbered from 1 in each unit)."""

    def shift_frames(self, offset: int) -> None: ...


def make_analyzers(flow_cap=None, continuation: bool = False, underlay_mtu=None, address_cap=None) -> list:
    """Every analyzer of one capture, chunk or file. continuation: this state will be merged after another's."""
    return [CaptureStats(),
            FlowAnalyzer(**({"cap": flow_cap} if flow_cap else {}), continuation=continuation),
            OverheadAnalyzer(),
            TopologyAnalyzer(**({"cap": address_cap} if address_cap else {})),
            MtuAnalyzer(underlay_mtu, continuation=continuation),
            DeliveryAnalyzer(),
            SessionsAnalyzer()]


def update_all(analyzers: list, facts) -> None:
    """One batch into every analyzer, each seeing the frames it declares (distinct_only)."""
    marks = facts[DUPLICATE_COLUMN] if DUPLICATE_COLUMN in facts else None
    distinct = facts[~marks] if marks is not None and marks.any() else facts
    for analyzer in analyzers:
        analyzer.update(distinct if analyzer.distinct_only else facts)


def merge_all(analyzers: list, later: list) -> None:
    """Take on the state of the following chunk or file (made by the same make_analyzers)."""
    for mine, theirs in zip(analyzers, later, strict=True):
        mine.merge(theirs)


def forget_carry(analyzers: list) -> None:
    """Nothing will be merged after this state: drop what is kept only for that."""
    for analyzer in analyzers:
        if isinstance(analyzer, CarriesState):
            analyzer.forget_carry()


def shift_frames(analyzers: list, offset: int) -> None:
    """This state's unit starts `offset` records into its file: its frame numbers become the file's."""
    if offset:
        for analyzer in analyzers:
            if isinstance(analyzer, NumbersFrames):
                analyzer.shift_frames(offset)


def results(analyzers: list) -> dict:
    """Each analyzer's result by its name (what build_report takes)."""
    return {analyzer.name: analyzer.result() for analyzer in analyzers}


__all__ = ["Analyzer", "CaptureStats", "CarriesState", "DUPLICATE_COLUMN", "DeliveryAnalyzer", "DeliveryResult", "DuplicateMarker", "FRAME_COLUMN",
           "FlowAnalyzer", "FlowsResult", "MtuAnalyzer", "MtuEvidence", "NOMINAL_OVERHEAD", "NumbersFrames",
           "OverheadAnalyzer", "OverheadResult", "SessionsAnalyzer", "SessionsResult", "StatsResult", "TUNNEL_CLASSES",
           "TopologyAnalyzer", "TopologyResult",
           "forget_carry", "make_analyzers", "merge_all", "results", "shift_frames", "update_all"]
