"""Frame numbers in finding evidence: where an evidence row carries `frame` (the record's 1-based number in
its capture file, as Wireshark numbers it), the finding's evidence and its text line name it.

The decoder's `frame` column and the analyzers that keep it arrive separately; here a stub `frame` is put
on the analyzer results a real analysis produced, the way those rows will carry it."""
from __future__ import annotations

import numpy as np

from pcapdiag.analyzers import results
from pcapdiag.runner import Settings, WorkUnit, build_report, run_unit
from pcapdiag.report.text import render_text

from test_findings_minimal import VXLAN_HEADERS, snaplen_capture, too_big_from_pod_capture


def finding(report, finding_id):
    [found] = [f for f in report.findings if f["id"] == finding_id]
    return found


def test_example_packets_carry_their_frame_number(tmp_path):
    path = str(snaplen_capture(tmp_path, VXLAN_HEADERS + 10))
    state, info = run_unit(WorkUnit(path), Settings.make())
    found = results(state)
    [example] = found["stats"].examples["truncated"]
    example["frame"] = 11                  # the truncated packet is the capture's 11th record
    report = build_report(path, found, info)
    truncated = finding(report, "capture.truncated")
    assert truncated["evidence"]["examples"][0]["frame"] == 11
    assert truncated["evidence"]["text"][0].endswith(" captured (frame 11)")
    assert "          example: packet=vxlan 192.168.1.10 > 192.168.1.11, 1514 bytes on the wire, 74 captured " \
           "(frame 11)" in render_text(report)


def test_grouped_evidence_rows_carry_the_frame_of_their_first_packet(tmp_path):
    path = str(too_big_from_pod_capture(tmp_path))
    state, info = run_unit(WorkUnit(path), Settings.make())
    found = results(state)
    found["mtu"].large_inner["frame"] = np.full(len(found["mtu"].large_inner), 4)
    report = build_report(path, found, info)
    too_big = finding(report, "mtu.inner-too-big")
    assert too_big["evidence"]["flows"][0]["frame"] == 4
    assert too_big["evidence"]["text"][0] == "flow: 10.244.1.5 > 10.244.2.7 (3 x 1500 bytes, native) (frame 4)"


def test_frame_numbers_come_from_the_decoders(tmp_path):
    """With the decoders' frame column, evidence names the real record: the first of the pod's three big
    packets follows the three-packet handshake, so it is the capture's fourth record."""
    path = str(too_big_from_pod_capture(tmp_path))
    state, info = run_unit(WorkUnit(path), Settings.make())
    report = build_report(path, results(state), info)
    assert finding(report, "mtu.inner-too-big")["evidence"]["flows"][0]["frame"] == 4
