"""Several captures of one incident on the local process pool (--jobs N): correlated as the serial run
correlates them (runner.analyze), so each packet seen at several vantage points counts once, the same report."""
from __future__ import annotations

import json

import pytest

import pcapdiag
from conftest import LAB, SAMPLES
from pcapdiag.report.machine import render_json

SETS = {"multi": sorted(SAMPLES.glob("multi/*.pcap")),
        "underlay-and-any": [SAMPLES / "vxlan-mtu-broken.pcap", SAMPLES / "vxlan-mtu-broken.node1-any.pcap"],
        "lab-flannel": [LAB / "vxlan-flannel.pcap", LAB / "vxlan-flannel.node2-any.pcap"]}


@pytest.mark.parametrize("name", SETS)
def test_the_process_pool_correlates_as_the_serial_run(name):
    paths = [str(path) for path in SETS[name]]
    if name.startswith("lab") and not LAB.is_dir():
        pytest.skip("the lab captures are in the shared corpus")
    serial = render_json(pcapdiag.analyze(paths, jobs=1))
    document = json.loads(serial)
    assert document["capture"]["packets"] < sum(point["records"] for point in document["correlation"]["vantage_points"])
    assert render_json(pcapdiag.analyze(paths, jobs=2)) == serial
