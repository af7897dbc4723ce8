"""Silent, size-dependent loss and random loss on real kernel captures (sample_pcaps/silent-loss, made by
tools/silent_loss_lab.py; truth.json is the answer key): the path-MTU black hole is named with its node pair
and a size window holding the true path MTU, random loss is a loss warning and no MTU error, and the near
misses (a healthy capture, one cut mid-transfer, a one-way tunnel) raise no error."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import pcapdiag

LAB = Path(__file__).resolve().parent.parent / "sample_pcaps" / "silent-loss"
TRUTH = json.loads((LAB / "truth.json").read_text())


def report_of(name: str) -> dict:
    return pcapdiag.analyze(str(LAB / name)).to_dict()


def ids(report: dict, severity=None) -> list:
    return [f["id"] for f in report["findings"] if severity is None or f["severity"] == severity]


SENDER_MTU = [name for name, truth in TRUTH.items() if truth["fault"] == "pmtu" and truth["capture"]["side"] == "sender"]


@pytest.mark.parametrize("name", SENDER_MTU)
def test_the_sending_node_sees_the_black_hole_and_its_size_window(name):
    truth = TRUTH[name]
    report = report_of(name)
    assert ids(report, "error") == ["mtu.path-blackhole"]
    finding = next(f for f in report["findings"] if f["id"] == "mtu.path-blackhole")
    [pair] = finding["evidence"]["node_pairs"]
    if truth["encapsulation"] == "native":   # natively routed: the pods are the path's ends
        assert (pair["src"], pair["dst"]) == (truth["pods"]["pod1"], truth["pods"]["pod2"])
    else:
        assert (pair["src"], pair["dst"]) == (truth["nodes"]["node1"], truth["nodes"]["node2"])
        assert pair["type"] == truth["encapsulation"]
    low, high = pair["path_mtu_window"]
    assert low <= truth["path_mtu"] <= high
    expected_low, expected_high = truth["expected"]["path_mtu_window"]
    assert expected_low <= low and high <= expected_high + 1
    assert pair["pod_mtu"] + truth["overhead_per_packet"] <= truth["path_mtu"]
    assert f"at most {pair['pod_mtu']}" in finding["fix"]
    assert report["verdict"].startswith("PROBLEM")


@pytest.mark.parametrize("name", [n for n, t in TRUTH.items() if t["fault"] == "random"])
def test_random_loss_is_a_loss_warning_naming_the_direction_and_no_mtu_error(name):
    truth = TRUTH[name]
    report = report_of(name)
    assert ids(report, "error") == []
    assert "path.packet-loss" in ids(report)
    finding = next(f for f in report["findings"] if f["id"] == "path.packet-loss")
    node = truth["nodes"]
    assert truth["expected"]["lossy_direction"] == "node1->node2"
    assert [(p["src"], p["dst"]) for p in finding["evidence"]["node_pairs"]] == [(node["node1"], node["node2"])]
    [pair] = finding["evidence"]["node_pairs"]
    if truth["capture"]["side"] == "receiver":   # losses before the capture point: seen once, late, never twice
        assert pair["retransmits"] == 0 and pair["reordered"] >= 10
    assert pair["loss_pct"] >= 100 * truth["expected"]["loss_probability"] / 2


@pytest.mark.parametrize("name", [n for n, t in TRUTH.items()
                                  if t["fault"] in ("none", "cut", "oneway")
                                  or (t["fault"] == "pmtu" and t["capture"]["side"] == "receiver")])
def test_near_misses_raise_no_error(name):
    assert ids(report_of(name), "error") == []
