"""The HTML report without a browser: what the page holds, that nothing from a capture becomes markup, that it
stays small, and the series it draws (size histograms, time bins, retransmissions) against the analysis.

The same page in a real browser is tests/test_html_browser.py.
"""
from __future__ import annotations

import html
import html.parser
import json

import numpy as np
import pytest

import pcapdiag
from pcapdiag.capture import open_capture
from pcapdiag.decode import DEFAULT_VXLAN_PORTS
from pcapdiag.decode.select import make_decoder
from pcapdiag.analyzers import DuplicateMarker
from pcapdiag.report.html import CONTENT_SECURITY_POLICY, cluster_edges, html_report, render_html
from pcapdiag.report.series import MAX_BINS, SIZE_LIMIT, SeriesCollector, collect_series

from conftest import LAB, SAMPLES as SAMPLE_DIR, corpus_files

SAMPLES = sorted(SAMPLE_DIR.glob("*.pcap"))
PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&amp;"
MTU_BROKEN = SAMPLE_DIR / "vxlan-mtu-broken.node1-any.pcap"


def lab_captures() -> list:
    """The shared lab captures ($PCAPDIAG_CORPUS/lab), none where the corpus is absent."""
    return corpus_files(LAB)


def with_markup(report: dict, series: dict) -> tuple[dict, dict]:
    """The report and series with PAYLOAD appended to every string (and every chain name): what a capture
    could smuggle into a page if any text reached it unescaped."""
    def mark(value):
        if isinstance(value, str):
            return value + PAYLOAD
        if isinstance(value, list):
            return [mark(v) for v in value]
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        return value

    report = mark(report)
    report["encapsulation_chains"] = {k + PAYLOAD: v for k, v in report["encapsulation_chains"].items()}
    report["capture"]["warnings"] = [PAYLOAD]
    report["findings"].append({"id": "x" + PAYLOAD, "severity": "error" + PAYLOAD, "summary": PAYLOAD, "count": PAYLOAD,
                               "evidence": {"flows": [PAYLOAD, {"src": PAYLOAD}], "text": [PAYLOAD]},
                               "fix": PAYLOAD, "counts_what": PAYLOAD})
    return report, mark(series)


class Elements(html.parser.HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def elements(page: str) -> list:
    parser = Elements()
    parser.feed(page)
    return parser.tags


def test_a_page_holds_the_verdict_findings_tables_and_charts():
    report = pcapdiag.analyze(str(MTU_BROKEN))
    page = html_report(str(MTU_BROKEN))
    data = report.to_dict()
    tags = elements(page)
    assert ("meta", {"http-equiv": "Content-Security-Policy", "content": CONTENT_SECURITY_POLICY}) in tags
    assert "script-src" not in CONTENT_SECURITY_POLICY and "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert not [tag for tag, _ in tags if tag in ("script", "img", "link", "iframe", "object")]
    assert html.escape(data["verdict"]) in page   # the page escapes it (an apostrophe too)
    for finding in data["findings"]:
        assert f'id="finding-{finding["id"]}"' in page and html.escape(finding["fix"]) in page
    for heading in ("Findings", "Pictures", "Encapsulation", "MTU", "Nodes", "Top 24 flows by bytes",
                    "Tunnel traffic per node pair", "Capture"):
        assert f"<h2>{heading}</h2>" in page
    assert [tag for tag, _ in tags].count("svg") == 5    # inner and outer sizes, the cluster, time, overhead
    # the cliff: the overlay and underlay MTU lines, and the path MTU the ICMP messages told
    assert "vxlan overlay MTU 1450" in page and "underlay MTU 1500" in page and "path MTU (ICMP) 1450" in page
    for node in data["nodes"]:
        assert all(pod in page for pod in node["pods"])


def test_every_string_from_the_capture_stays_text(tmp_path):
    crafted = tmp_path / "<img src=x onerror=alert(1)>.pcap"
    crafted.write_bytes(MTU_BROKEN.read_bytes())
    report, series = with_markup(pcapdiag.analyze(str(crafted)).to_dict(), collect_series(str(crafted)))
    page = render_html(report, series)
    assert "<script" not in page and "<img" not in page
    tags = elements(page)
    assert not [tag for tag, _ in tags if tag in ("script", "img")]
    assert not [name for _, attrs in tags for name in attrs if name.startswith("on")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_page_without_series_says_so_and_still_draws_the_cluster():
    page = render_html(pcapdiag.analyze(str(MTU_BROKEN)))
    assert "made without them" in page and "The cluster" in page and "Packet sizes" not in page


def test_native_cluster_edges_come_from_pod_flows():
    data = pcapdiag.analyze(str(SAMPLE_DIR / "native-bgp.pcap")).to_dict()
    assert not data["node_pairs"]
    edges = cluster_edges(data)
    nodes = {node["ip"] for node in data["nodes"]}
    assert edges and all(edge["src"] in nodes and edge["dst"] in nodes for edge in edges)


def test_the_page_of_a_million_packets_stays_small():
    """Aggregates only: a report with 200,000 flows and a series of the widest shape still makes a small page."""
    data = pcapdiag.analyze(str(MTU_BROKEN)).to_dict()
    data["flows"] = data["flows"] * 10_000
    series = collect_series(str(MTU_BROKEN))
    series["sizes"]["vxlan"]["inner"] = [[size, 1000] for size in range(20, SIZE_LIMIT + 2)]
    series["groups"] = [dict(series["groups"][0], src=f"10.0.0.{i}", series=[[series["start"] + t * 0.01, 5] for t in
                                                                              range(MAX_BINS)]) for i in range(64)]
    page = render_html(data, series)
    assert len(page) < 1_000_000


# -- the series ---------------------------------------------------------------------------------------------

def facts_of(path) -> list:
    decoder, duplicates = make_decoder("fast", DEFAULT_VXLAN_PORTS), DuplicateMarker()
    with open_capture(str(path)) as capture:
        return [duplicates.mark(decoder.decode_batch(batch)) for batch in capture.batches(64)]


@pytest.mark.parametrize("capture", [MTU_BROKEN, SAMPLE_DIR / "ipip.pcap"] + lab_captures(), ids=lambda p: str(p).split("/")[-1])
def test_series_agree_with_the_analysis_and_merge_like_one_pass(capture):
    """The collector as the runner would run it (distinct packets, several batches, a merge): its
    retransmissions are the flow table's, its packets the classes', and two halves merged are one pass."""
    batches = facts_of(capture)
    whole = SeriesCollector()
    for facts in batches:
        whole.update(facts)
    halves = [SeriesCollector(), SeriesCollector()]
    for index, facts in enumerate(batches):
        halves[index * 2 // len(batches)].update(facts)
    halves[0].merge(halves[1])
    result = whole.result().to_dict()
    analysis = pcapdiag.analyze(str(capture))
    report = analysis.to_dict()
    assert sum(count for _, count in result["events"]["retransmit"]) == int(analysis.flows["retransmits"].sum())
    assert sum(g["packets"] for g in result["groups"]) == sum(
        e["packets"] for e in report["encapsulation"] if e["type"] != "non-ip") - _duplicates_in_ip(capture)
    by_class = {e["type"]: e["packets"] for e in report["encapsulation"]}
    for cls, sides in result["sizes"].items():
        if "outer" in sides:
            assert sum(count for _, count in sides["outer"]) <= by_class[cls]
    merged = halves[0].result().to_dict()
    assert json.dumps(merged["sizes"]) == json.dumps(result["sizes"])
    assert merged["events"] == result["events"] and merged["bin_seconds"] == result["bin_seconds"]
    assert sorted(map(json.dumps, merged["groups"])) == sorted(map(json.dumps, result["groups"]))


def _duplicates_in_ip(capture) -> int:
    return sum(int((facts["duplicate"] & (facts["outer_ipv"] > 0)).sum()) for facts in facts_of(capture))


def test_the_collector_follows_the_analyzer_contract():
    from pcapdiag.decode.facts import COLUMN_NAMES
    from pcapdiag.report.series import SeriesResult

    collector = SeriesCollector()
    assert collector.name == "series" and collector.distinct_only and set(collector.reads) <= set(COLUMN_NAMES)
    for facts in facts_of(MTU_BROKEN):
        collector.update(facts)
    collector.forget_carry()
    result = collector.result()
    assert isinstance(result, SeriesResult) and render_html(pcapdiag.analyze(str(MTU_BROKEN)), result)
    with pytest.raises(AttributeError):
        result.sizes = {}          # frozen


def test_time_bins_widen_to_fit_long_captures_and_stay_aligned():
    batches = facts_of(MTU_BROKEN)
    early, late = SeriesCollector(), SeriesCollector()
    for facts in batches:
        early.update(facts)
        shifted = facts[np.ones(len(facts), dtype=bool)]
        shifted["ts"] = facts["ts"] + 86_400.0       # the same traffic a day later
        late.update(shifted)
    fine = early.bin_seconds
    early.merge(late)
    result = early.result().to_dict()
    assert result["bin_seconds"] > fine and (result["end"] - result["start"]) / result["bin_seconds"] <= MAX_BINS
    assert all(t / result["bin_seconds"] == int(t / result["bin_seconds"]) for t, _ in result["events"]["retransmit"])
    assert sum(g["packets"] for g in result["groups"]) == 2 * sum(
        g["packets"] for g in collect_series(str(MTU_BROKEN))["groups"])


def test_inner_size_histogram_shows_the_cliff():
    sizes = collect_series(str(MTU_BROKEN))["sizes"]
    inner = dict(map(tuple, sizes["vxlan"]["inner"]))
    outer = dict(map(tuple, sizes["vxlan"]["outer"]))
    assert max(inner) <= 1450 and max(outer) == 1500          # fits on the wire: fragmented before
    assert max(dict(map(tuple, sizes["native"]["inner"]))) == 1500     # the pod side sends 1500
