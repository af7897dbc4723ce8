"""Hostile and broken input, end to end through the CLI (`pcapdiag analyze FILE --format json -q`).

* Input errors: exit 2, one line on stderr saying what is wrong, nothing on stdout.
* Damage inside a capture: exit 0; the packets before (and, where the reader can resynchronise,
  after) the damage are analysed -- checked by packet and flow counts -- and the damage is
  counted in capture.damage, described in capture.warnings and raised as a finding.
* Malformed packets: counted (capture.malformed / truncated / too_deep / offload_frames), never an
  exception; the good packets around them are analysed.
* Bounded resources: a capped flow table that says when the cap was hit, and a 1,000,000-flow
  capture analysed within the project's memory bound.

docs/errors.md describes every message and counter tested here. Long by design (~750 lines): it
follows docs/errors.md section by section, so each documented message has its test in the same order.
"""
from __future__ import annotations

import gzip
import json
import os
import random
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import pcapdiag.testing.packets as P
from mutate import T0, pcap_file
from pcapdiag.testing.files import pcapng_epb, pcapng_idb, pcapng_shb
from pcapdiag.testing.packets import linux_sll2, null_loopback

REPO = Path(__file__).resolve().parent.parent
NODE_A, NODE_B = "192.168.1.10", "192.168.1.11"
MEMORY_BOUND_MB = 250


# -- helpers ---------------------------------------------------------------------------------------

def invoke(*args, input=None):
    from pcapdiag.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def input_error(path, *extra, input=None) -> str:
    """The one-line message of an input error (exit 2, nothing on stdout), without its prefix."""
    result = invoke("analyze", path, "--format", "json", "-q", *extra, input=input)
    assert result.exit_code == 2, (result.exit_code, result.stdout[:300], result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pcapdiag: error: "), result.stderr
    return lines[0][len("pcapdiag: error: "):]


def report(path, *extra, decoder=None) -> dict:
    args = ["analyze", path, "--format", "json", "-q", *extra]
    if decoder:
        args += ["--decoder", decoder]
    result = invoke(*args)
    assert result.exit_code == 0, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def write(tmp_path, data: bytes, name="capture.pcap") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def flow_frame(i: int) -> bytes:
    """Frame i of the test traffic: VXLAN between two nodes carrying its own inner TCP flow."""
    inner = P.ipv4("10.244.1.5", "10.244.2.7", P.tcp(20000 + i, 80, flags="PA", seq=1000 * i, payload=100))
    return P.ethernet(P.vxlan_packet(NODE_A, NODE_B, inner, sport=50000 + i % 100))


def flows(n: int, start: int = 0) -> list[bytes]:
    return [flow_frame(i) for i in range(start, start + n)]


def sports(rep: dict) -> set[int]:
    """Inner source ports of the flows in a report: which of the test frames were analysed."""
    return {f["sport"] - 20000 for f in rep["flows"] if f["sport"] is not None and f["sport"] >= 20000}


def finding_ids(rep: dict) -> set[str]:
    return {f["id"] for f in rep["findings"]}


def damage(rep: dict) -> dict:
    return {k: v for k, v in rep["capture"]["damage"].items() if v}


# -- input errors: one line, exit 2 ---------------------------------------------------------------

def test_missing_file(tmp_path):
    path = tmp_path / "nope.pcap"
    assert input_error(path) == f"no such file: {path}"


def test_directory(tmp_path):
    """A directory stands for the captures in it (pcapdiag.inputs); one with none is an input error."""
    assert input_error(tmp_path) == f"no capture file in directory {tmp_path}"


def test_permission_denied(tmp_path, monkeypatch):
    """Root reads everything, so the refusal is simulated at open() for this one path."""
    import builtins

    path = write(tmp_path, pcap_file(flows(2)))
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    assert input_error(path) == f"permission denied: {path}"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_permission_denied_for_real(tmp_path):
    path = write(tmp_path, pcap_file(flows(2)))
    path.chmod(0)
    assert input_error(path) == f"permission denied: {path}"


def test_empty_file(tmp_path):
    path = write(tmp_path, b"")
    assert input_error(path) == f"empty file: {path}"


def test_empty_stdin():
    assert input_error("-", input=b"") == "empty input on stdin"


NOT_CAPTURES = {
    "text": (b"# notes from the incident\nnode1 10.0.0.1\n" * 20, "looks like a text file"),
    "json": (b'{"kind": "Pod", "spec": {}}\n', "looks like a JSON or text file"),
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(200), "looks like a PNG image"),
    "elf": (b"\x7fELF\x02\x01\x01\x00" + bytes(200), "looks like an ELF executable"),
    "zip": (b"PK\x03\x04" + bytes(100), "looks like a ZIP archive"),
    "random": (b"\x00" + random.Random(4).randbytes(300), "looks like unknown data"),
    "tiny": (b"\xd4\xc3", "is only 2 bytes long"),
}


@pytest.mark.parametrize("kind", sorted(NOT_CAPTURES))
def test_not_a_capture(tmp_path, kind):
    content, says = NOT_CAPTURES[kind]
    path = write(tmp_path, content, "trace.pcap")     # the name says pcap; the bytes decide
    message = input_error(path)
    assert message.startswith(f"not a capture file: {path} ") and says in message, message


@pytest.mark.parametrize("inner, says", [
    (b"kubectl logs -n kube-system flannel\n" * 40, "what it holds looks like a text file"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "what it holds looks like a PNG image"),
    (b"\x7fELF\x02\x01\x01" + bytes(100), "what it holds looks like an ELF executable"),
    (gzip.compress(b"twice"), "what it holds looks like gzip-compressed data"),
])
def test_gzip_of_something_else(tmp_path, inner, says):
    path = write(tmp_path, gzip.compress(inner), "trace.pcap.gz")
    message = input_error(path)
    assert message.startswith(f"not a capture file: {path} is gzip-compressed") and says in message, message


def test_gzip_of_nothing(tmp_path):
    path = write(tmp_path, gzip.compress(b""), "empty.pcap.gz")
    assert input_error(path).startswith(f"cannot read {path}: it is gzip-compressed, but")


@pytest.mark.parametrize("linktype, name", [(105, "105 (IEEE 802.11)"), (127, "127 (IEEE 802.11 radiotap)"),
                                            (9, "9 (PPP)"), (4242, "4242")])
def test_unsupported_link_type_is_named(tmp_path, linktype, name):
    path = write(tmp_path, pcap_file(flows(2), linktype=linktype))
    assert input_error(path) == f"unsupported link type {name} in {path}"


def test_pcapng_with_only_unsupported_interfaces(tmp_path):
    data = pcapng_shb() + pcapng_idb(105) + pcapng_idb(127) + pcapng_epb(0, T0, b"\x00" * 40)
    path = write(tmp_path, data, "wifi.pcapng")
    assert input_error(path) == f"unsupported link type 105 (IEEE 802.11) in {path} (and on all 2 interfaces)"


@pytest.mark.parametrize("major, minor", [(2, 0), (0, 1), (65535, 7)])
def test_unknown_pcapng_version(tmp_path, major, minor):
    data = pcapng_shb(major=major, minor=minor) + pcapng_idb(1) + pcapng_epb(0, T0, flow_frame(0))
    path = write(tmp_path, data, "v.pcapng")
    assert input_error(path) == f"unsupported pcapng version {major}.{minor} in {path} (only 1.x exists)"


def _broken_shb(kind: str) -> bytes:
    good = pcapng_shb() + pcapng_idb(1) + pcapng_epb(0, T0, flow_frame(0))
    data = bytearray(good)
    if kind == "length not a multiple of 4":
        data[4:8] = struct.pack("<I", 29)
    elif kind == "length too small":
        data[4:8] = struct.pack("<I", 12)
    elif kind == "length absurd":
        data[4:8] = struct.pack("<I", 0x7FFFFFF0)
    elif kind == "bad byte-order magic":
        data[8:12] = b"\x01\x02\x03\x04"
    elif kind == "trailing length disagrees":
        data[24:28] = struct.pack("<I", 32)
    elif kind == "cut short":
        return bytes(data[:20])
    return bytes(data)


@pytest.mark.parametrize("kind, says", [
    ("length not a multiple of 4", "bad block length 29"),
    ("length too small", "bad block length 12"),
    ("length absurd", "bad block length"),
    ("bad byte-order magic", "bad byte-order magic 01020304"),
    ("trailing length disagrees", "its two length fields disagree"),
    ("cut short", "it ends after 20 of its 28 bytes"),
])
def test_broken_pcapng_section_header(tmp_path, kind, says):
    path = write(tmp_path, _broken_shb(kind), "broken.pcapng")
    message = input_error(path)
    assert message.startswith(f"broken pcapng section header in {path}: ") and says in message, message


def test_truncated_pcap_file_header(tmp_path):
    path = write(tmp_path, pcap_file([])[:17])
    assert input_error(path) == f"truncated pcap file header in {path} (the file has 17 of its 24 bytes)"


def test_one_bad_file_among_several_fails_before_any_work(tmp_path):
    good = write(tmp_path, pcap_file(flows(3)), "good.pcap")
    bad = write(tmp_path, b"hello\n", "bad.pcap")
    assert input_error(good, bad).startswith(f"not a capture file: {bad}")


def test_input_error_in_a_real_process_is_one_line(tmp_path):
    path = write(tmp_path, b"\x89PNG\r\n\x1a\n" + bytes(64), "x.pcap")
    result = subprocess.run([sys.executable, "-m", "pcapdiag", "analyze", str(path), "--format", "json", "-q"],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"pcapdiag: error: not a capture file: {path} looks like a PNG image\n"


# -- damage inside a capture: analysed around it, counted, reported ---------------------------------------

def test_file_ends_mid_record_header(tmp_path):
    data = pcap_file(flows(10)) + struct.pack("<II", T0, 0)      # 8 of a 16-byte record header
    rep = report(write(tmp_path, data))
    assert rep["capture"]["packets"] == 10 and sports(rep) == set(range(10))
    assert damage(rep) == {"truncated_tail": 1}
    assert rep["capture"]["warnings"] == [
        "file ends mid-record after 10 records (the last 8 bytes are an incomplete record header)"]
    assert "capture.damaged" in finding_ids(rep)


def test_file_ends_mid_record(tmp_path):
    data = pcap_file(flows(10))[:-40]
    rep = report(write(tmp_path, data))
    assert rep["capture"]["packets"] == 9 and sports(rep) == set(range(9))
    assert damage(rep) == {"truncated_tail": 1}
    [warning] = rep["capture"]["warnings"]
    assert warning.startswith("file ends mid-record after 9 records (the last ") and "incomplete record)" in warning
    [finding] = [f for f in rep["findings"] if f["id"] == "capture.damaged"]
    assert finding["severity"] == "warning" and warning in finding["summary"]


def test_record_longer_than_snaplen_is_kept_like_libpcap_does(tmp_path):
    """caplen > the header's snaplen but within libpcap's 256 KiB limit: a sloppy writer, not damage."""
    rep = report(write(tmp_path, pcap_file(flows(5), snaplen=96)))
    assert rep["capture"]["packets"] == 5 and sports(rep) == set(range(5)) and not damage(rep)


@pytest.mark.parametrize("caplen", [262145, 70_000_000, 0x7FFFFFFF, 0xFFFFFFFF])
def test_absurd_record_length_resynchronises(tmp_path, caplen):
    records = flows(4) + [(flow_frame(4), {"caplen": caplen})] + flows(5, start=5)
    rep = report(write(tmp_path, pcap_file(records, snaplen=65535)))
    assert sports(rep) == set(range(10)) - {4}, "the records after the damage are analysed too"
    assert rep["capture"]["packets"] == 9
    assert damage(rep) == {"bad_records": 1, "skipped_bytes": 16 + len(flow_frame(4))}
    [warning] = rep["capture"]["warnings"]
    assert warning == (f"record 5 (byte {24 + 4 * (16 + len(flow_frame(0)))}) has an impossible captured length "
                       f"({caplen} bytes); skipped {16 + len(flow_frame(4))} bytes to the next valid record")
    assert "capture.damaged" in finding_ids(rep)


def test_absurd_record_length_with_nothing_valid_after_it_stops_with_a_warning(tmp_path):
    """No plausible record within 16 MiB while the input goes on: stop there, and say so."""
    noise = np.random.default_rng(7).integers(0, 256, (16 << 20) + 4096, dtype=np.uint8).tobytes()
    records = flows(3) + [(noise, {"caplen": 0xFFFFFFF0})] + flows(3, start=3)
    rep = report(write(tmp_path, pcap_file(records)))
    assert rep["capture"]["packets"] == 3 and sports(rep) == {0, 1, 2}
    assert damage(rep) == {"bad_records": 1}
    [warning] = rep["capture"]["warnings"]
    assert warning.endswith("has an impossible captured length (4294967280 bytes) and no valid record follows "
                            "within 16 MiB; stopped reading there")


def test_zero_padded_tail_is_not_records(tmp_path):
    rep = report(write(tmp_path, pcap_file(flows(6)) + bytes(4096)))
    assert rep["capture"]["packets"] == 6 and sports(rep) == set(range(6))
    assert damage(rep) == {"trailing_garbage_bytes": 4096}


@pytest.mark.parametrize("tail", [b"\x00\x01\x02\x03\x04", b"-- capture ends here --\n" * 3,
                                  random.Random(2).randbytes(777)],
                         ids=["short", "text", "random"])
def test_garbage_after_the_last_record(tmp_path, tail):
    rep = report(write(tmp_path, pcap_file(flows(6)) + tail))
    assert rep["capture"]["packets"] == 6 and sports(rep) == set(range(6))
    assert damage(rep) == {"trailing_garbage_bytes": len(tail)}
    assert rep["capture"]["warnings"] == [f"ignored {len(tail)} bytes of garbage after the last record (record 6)"]
    assert "capture.damaged" in finding_ids(rep)


def test_caplen_larger_than_wire_length(tmp_path):
    records = flows(2) + [(flow_frame(2), {"wirelen": 60})] + flows(2, start=3)
    rep = report(write(tmp_path, pcap_file(records)))
    assert rep["capture"]["packets"] == 5 and sports(rep) == set(range(5))
    assert damage(rep) == {"caplen_gt_wirelen": 1}
    assert rep["capture"]["warnings"] == ["1 record has a captured length larger than their original length "
                                          "(kept as captured; the writer's lengths are wrong)"]


def test_timestamps_going_backwards(tmp_path):
    stamps = [T0 + 5, T0 + 6, T0 + 1, T0 + 7, T0 + 2]
    records = [(frame, {"ts": ts}) for frame, ts in zip(flows(5), stamps)]
    rep = report(write(tmp_path, pcap_file(records)))
    assert rep["capture"]["packets"] == 5 and sports(rep) == set(range(5))
    assert damage(rep) == {"ts_backwards": 2}
    assert rep["capture"]["start"] == "2023-11-14T22:13:21Z" and rep["capture"]["end"] == "2023-11-14T22:13:27Z"
    [finding] = [f for f in rep["findings"] if f["id"] == "capture.out-of-order"]
    assert finding["count"] == 2 and "capture.damaged" not in finding_ids(rep)


def test_pcapng_interfaces_of_different_link_types(tmp_path):
    """One packet per interface, each a different link layer, each its own flow: all analysed."""
    inner = [P.ipv4("10.244.1.5", "10.244.2.7", P.tcp(20000 + i, 80, flags="PA", payload=10)) for i in range(5)]
    data = (pcapng_shb() + pcapng_idb(1) + pcapng_idb(101) + pcapng_idb(276) + pcapng_idb(0) + pcapng_idb(113)
            + pcapng_epb(0, T0, P.ethernet(inner[0])) + pcapng_epb(1, T0 + 1, inner[1])
            + pcapng_epb(2, T0 + 2, linux_sll2(inner[2])) + pcapng_epb(3, T0 + 3, null_loopback(inner[3]))
            + pcapng_epb(4, T0 + 4, struct.pack(">HHH8sH", 0, 1, 6, bytes(8), 0x0800) + inner[4]))
    rep = report(write(tmp_path, data, "multi.pcapng"))
    assert rep["capture"]["format"] == "pcapng"
    assert rep["capture"]["link_types"] == ["ethernet", "raw", "linux_sll2", "null", "linux_sll"]
    assert rep["capture"]["packets"] == 5 and sports(rep) == set(range(5))
    assert rep["capture"]["malformed"] == 0 and not damage(rep)


@pytest.mark.parametrize("idb, units", [
    (pcapng_idb(1, tsresol=0), T0 * 1_000_000),          # resolution 1 s, µs units: year ~54 million
    (pcapng_idb(1, tsoffset=1 << 62), T0 * 1_000_000),   # if_tsoffset far in the future
    (pcapng_idb(1, tsoffset=-(1 << 62)), 0),             # ... and far in the past
], ids=["tsresol", "tsoffset+", "tsoffset-"])
def test_timestamps_beyond_any_calendar(tmp_path, idb, units):
    """pcapng timestamps a damaged resolution or offset throws out of datetime's range: still a report,
    with the times that cannot be written as ISO 8601 as null (this was exit 3 in report/model.py _iso)."""
    data = pcapng_shb() + idb + b"".join(pcapng_epb(0, 0, flow_frame(i), units=units + i) for i in range(3))
    rep = report(write(tmp_path, data, "far.pcapng"))
    assert rep["capture"]["packets"] == 3 and sports(rep) == {0, 1, 2}
    assert rep["capture"]["start"] is None and rep["capture"]["end"] is None
    assert all(flow["first"] is None and flow["last"] is None for flow in rep["flows"])


def test_pcapng_unsupported_interface_next_to_a_supported_one(tmp_path):
    data = (pcapng_shb() + pcapng_idb(1) + pcapng_idb(105) + pcapng_epb(0, T0, flow_frame(0))
            + pcapng_epb(1, T0 + 1, bytes(40)) + pcapng_epb(0, T0 + 2, flow_frame(1)))
    rep = report(write(tmp_path, data, "mixed.pcapng"))
    assert rep["capture"]["packets"] == 3 and sports(rep) == {0, 1}
    assert rep["encapsulation_chains"] == {"non-ip": 1, "vxlan": 2}   # counted, in the non-ip class


def test_pcapng_ends_mid_block(tmp_path):
    data = pcapng_shb() + pcapng_idb(1) + b"".join(pcapng_epb(0, T0 + i, flow_frame(i)) for i in range(6))
    rep = report(write(tmp_path, data[:-50], "cut.pcapng"))
    assert rep["capture"]["packets"] == 5 and sports(rep) == set(range(5))
    assert damage(rep) == {"truncated_tail": 1}
    assert rep["capture"]["warnings"][0].startswith("file ends mid-block after 5 records")


def test_pcapng_block_with_lying_length_resynchronises(tmp_path):
    blocks = [pcapng_epb(0, T0 + i, flow_frame(i)) for i in range(8)]
    broken = bytearray(blocks[3])
    broken[4:8] = struct.pack("<I", 0x7FFFFFF0)
    data = pcapng_shb() + pcapng_idb(1) + b"".join(blocks[:3]) + bytes(broken) + b"".join(blocks[4:])
    rep = report(write(tmp_path, data, "lying.pcapng"))
    assert sports(rep) == set(range(8)) - {3} and rep["capture"]["packets"] == 7
    assert damage(rep) == {"bad_records": 1, "skipped_bytes": len(blocks[3])}
    assert "skipped" in rep["capture"]["warnings"][0] and "next valid block" in rep["capture"]["warnings"][0]


def test_pcapng_later_section_of_an_unknown_version_stops_with_a_warning(tmp_path):
    first = pcapng_shb() + pcapng_idb(1) + b"".join(pcapng_epb(0, T0 + i, flow_frame(i)) for i in range(3))
    second = pcapng_shb(major=2) + pcapng_idb(1) + b"".join(pcapng_epb(0, T0 + i, flow_frame(i)) for i in range(3, 6))
    rep = report(write(tmp_path, first + second, "sections.pcapng"))
    assert rep["capture"]["packets"] == 3 and sports(rep) == {0, 1, 2}
    assert damage(rep) == {"bad_records": 1}
    assert rep["capture"]["warnings"] == [
        f"section 2 (byte {len(first)}) has unsupported pcapng version 2.0; stopped reading there"]
    assert "capture.damaged" in finding_ids(rep)


def test_pcapng_packet_on_an_undefined_interface_is_skipped_and_counted(tmp_path):
    data = (pcapng_shb() + pcapng_idb(1) + pcapng_epb(0, T0, flow_frame(0)) + pcapng_epb(7, T0 + 1, flow_frame(1))
            + pcapng_epb(0, T0 + 2, flow_frame(2)))
    rep = report(write(tmp_path, data, "iface.pcapng"))
    assert rep["capture"]["packets"] == 2 and sports(rep) == {0, 2}
    assert damage(rep) == {"bad_records": 1}
    assert "refers to interface 7, which no interface description block defined" in rep["capture"]["warnings"][0]


def test_truncated_gzip(tmp_path):
    whole = pcap_file(flows(200))
    packed = gzip.compress(whole, mtime=0)
    rep = report(write(tmp_path, packed[:len(packed) * 2 // 3], "cut.pcap.gz"))
    analysed = rep["capture"]["packets"]
    assert 0 < analysed < 200 and sports(rep) == set(range(analysed)), "every record before the cut"
    assert rep["capture"]["compressed"]
    assert rep["capture"]["damage"]["truncated_tail"] == 1
    assert any("the gzip stream ends early" in w for w in rep["capture"]["warnings"])
    assert "capture.damaged" in finding_ids(rep)


def test_corrupt_gzip(tmp_path):
    """Corruption late in a large gzip stream: what decompressed before it is analysed."""
    total = 20_000
    packed = bytearray(gzip.compress(pcap_file(flows(total)), mtime=0))
    packed[len(packed) * 9 // 10] ^= 0xFF
    rep = report(write(tmp_path, bytes(packed), "corrupt.pcap.gz"))
    assert set(range(total // 2)) <= sports(rep), "the records before the corruption are analysed"
    assert any(w.startswith("the gzip data is corrupt") for w in rep["capture"]["warnings"])
    assert "capture.damaged" in finding_ids(rep)


@pytest.mark.parametrize("junk", [b"JUNKJUNKJUNK", b"\x1f\x8b\x08" + bytes(40), random.Random(3).randbytes(5000)],
                         ids=["text", "a broken gzip header", "random"])
def test_garbage_after_the_gzip_stream_is_counted(tmp_path, junk):
    path = write(tmp_path, gzip.compress(pcap_file(flows(5)), mtime=0) + junk, "tail.pcap.gz")
    rep = report(path)
    assert rep["capture"]["packets"] == 5 and sports(rep) == set(range(5))
    assert damage(rep) == {"trailing_garbage_bytes": len(junk)}
    assert rep["capture"]["warnings"] == ["ignored bytes after the end of the gzip stream"]
    assert "capture.damaged" in finding_ids(rep)


def test_garbage_after_a_gzip_stream_on_stdin_is_counted():
    result = invoke("analyze", "-", "--format", "json", "-q",
                    input=gzip.compress(pcap_file(flows(4)), mtime=0) + b"JUNK")
    assert result.exit_code == 0, result.stderr
    rep = json.loads(result.stdout)
    assert rep["capture"]["packets"] == 4 and damage(rep) == {"trailing_garbage_bytes": 4}


def test_small_corrupt_gzip_is_an_input_error(tmp_path):
    """Corrupt within the first piece the inflater is fed: nothing decompressed, so nothing to analyse."""
    packed = bytearray(gzip.compress(pcap_file(flows(20)), mtime=0))
    packed[len(packed) // 2] ^= 0xFF
    path = write(tmp_path, bytes(packed), "corrupt.pcap.gz")
    assert input_error(path).startswith(f"cannot read {path}: it is gzip-compressed, but the gzip data is corrupt")


def test_damage_is_in_the_text_summary(tmp_path):
    cut = P.ethernet(P.vxlan_packet(NODE_A, NODE_B, P.ipv4("10.244.1.5", "10.244.2.9", P.tcp(1, 2, payload=50))))
    records = flows(3) + [(cut[:60], {"wirelen": len(cut)}), _bad_ihl()] + flows(1, start=3)
    path = write(tmp_path, pcap_file(records)[:-7])
    result = invoke("analyze", path, "-q")
    assert result.exit_code == 0, result.stderr
    assert "Capture damage: malformed 1, truncated 1, truncated_tail 1" in result.stdout


# -- malformed packets: counted, never raised ------------------------------------------------------------

def _outer(inner_ip: bytes, **options) -> bytes:
    return P.ethernet(P.vxlan_packet(NODE_A, NODE_B, inner_ip, **options))


def _bad_ihl() -> bytes:
    packet = bytearray(P.ipv4("10.244.1.5", "10.244.2.8", P.tcp(7, 8)))
    packet[0] = 0x43                                              # IHL 3: a header shorter than 20 bytes
    return P.ethernet(bytes(packet))


def _udp_length(value: int) -> bytes:
    packet = bytearray(P.vxlan_packet(NODE_A, NODE_B, P.ipv4("10.244.1.5", "10.244.2.8", P.tcp(7, 8))))
    packet[24:26] = struct.pack(">H", value)
    return P.ethernet(bytes(packet))


def _vxlan_cut_short() -> bytes:
    datagram = P.udp_datagram(NODE_A, NODE_B, 50000, 8472, b"\x08\x00\x00")   # 3 bytes of an 8-byte header
    return P.ethernet(P.ipv4(NODE_A, NODE_B, datagram, proto=17))


def _geneve_options_past_the_end() -> bytes:
    body = struct.pack(">BBHI", 30, 0, 0x6558, 5 << 8) + bytes(16)        # promises 120 bytes of options
    return P.ethernet(P.ipv4(NODE_A, NODE_B, P.udp_datagram(NODE_A, NODE_B, 50000, 6081, body), proto=17))


def _nsh_past_the_end() -> bytes:
    gpe = struct.pack(">B2xBI", 0x0C, 4, 7 << 8)
    nsh = struct.pack(">HBBI", 40, 1, 1, 0x101FF)                         # NSH length 40 words, 8 bytes there
    return P.ethernet(P.ipv4(NODE_A, NODE_B, P.udp_datagram(NODE_A, NODE_B, 50000, 4790, gpe + nsh), proto=17))


def _icmp_quoting(quote: bytes) -> bytes:
    return P.ethernet(P.ipv4(NODE_B, NODE_A, P.icmp_frag_needed(1400, quote)))


def _raw_ipv4(proto: int, payload: bytes) -> bytes:
    """An IPv4 header by struct (dpkt's constructors parse what they wrap, recursively)."""
    header = bytearray(struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0x1234, 0, 64, proto, 0,
                                   bytes([192, 168, 1, 10]), bytes([192, 168, 1, 11])))
    header[10:12] = struct.pack(">H", ~P.ones_sum(bytes(header)) & 0xFFFF)
    return bytes(header) + payload


def _deep(kind: str, depth: int) -> bytes:
    packet = P.ipv4("10.244.1.5", "10.244.2.8", P.tcp(7, 8))
    for _ in range(depth):
        if kind == "vxlan":
            packet = P.vxlan_packet(NODE_A, NODE_B, packet)
        elif kind == "ipip":
            packet = _raw_ipv4(4, packet)
        else:
            packet = _raw_ipv4(47, struct.pack(">HH", 0, 0x0800) + packet)
    return _raw_ethernet(packet)


def _raw_ethernet(packet: bytes) -> bytes:
    """An Ethernet header by struct: dpkt's Ethernet parses and re-serialises what it wraps."""
    return b"\x02\x00\x00\x00\x00\x0b\x02\x00\x00\x00\x00\x0a\x08\x00" + packet


def _cut(frame: bytes, caplen: int) -> tuple[bytes, int]:
    return frame[:caplen], len(frame)


def _ipv4_with_zero_checksum(packet: bytes) -> bytes:
    raw = bytearray(packet)
    raw[10:12] = b"\x00\x00"
    return bytes(raw)


HOSTILE_PACKETS = {
    # name: (frame, what it counts as)
    "bad IHL": (_bad_ihl(), "malformed"),
    "IHL beyond the total length": (P.ethernet(P.ipv4("10.244.1.5", "10.244.2.8", P.tcp(7, 8), ihl=15)),
                                    "malformed"),
    "IP total length beyond the frame": (_outer(P.ipv4("10.244.1.5", "10.244.2.8", P.tcp(7, 8), total_length=900)),
                                         "malformed"),
    "outer IP total length beyond the frame": (P.ethernet(P.ipv4(NODE_A, NODE_B, P.tcp(7, 8), total_length=1400)),
                                               "malformed"),
    "IP total length below the header": (_outer(P.ipv4("10.244.1.5", "10.244.2.8", P.tcp(7, 8), total_length=12)),
                                         "malformed"),
    "IP total length 0 (offload super-frame)": (
        _outer(P.ipv4("10.244.1.5", "10.244.2.8", P.tcp(7, 8, payload=3000), total_length=0)), "offload"),
    "IPv6 payload length beyond the frame": (
        P.ethernet(P.ipv6("fd10::5", "fd10::7", P.tcp(7, 8), payload_length=4000)), "malformed"),
    "TCP data offset below 5": (P.ethernet(P.ipv4("10.244.1.5", "10.244.2.8",
                                                  bytes(P.tcp(7, 8))[:12] + b"\x20" + bytes(P.tcp(7, 8))[13:],
                                                  proto=6)), "malformed"),
    # the UDP length field is not what bounds the payload (the IP total length is): decoded as usual
    "UDP length 0": (_udp_length(0), "clean"),
    "UDP length 4": (_udp_length(4), "clean"),
    "UDP length beyond the datagram": (_udp_length(60000), "clean"),
    "VXLAN header cut short": (_vxlan_cut_short(), "malformed"),
    "Geneve options past the end": (_geneve_options_past_the_end(), "malformed"),
    "NSH length past the end (VXLAN-GPE)": (_nsh_past_the_end(), "malformed"),
    "ICMP quoting garbage": (_icmp_quoting(bytes(range(7, 250))), "clean"),
    "ICMP quoting a header that claims options": (_icmp_quoting(b"\x4f" + bytes(30)), "clean"),
    "ICMP quoting nothing": (P.ethernet(P.ipv4(NODE_B, NODE_A, P.icmp_frag_needed(1400, b""))), "clean"),
    "snaplen-cut VXLAN": (_cut(_outer(P.ipv4("10.244.1.5", "10.244.2.8", P.tcp(7, 8, payload=1000))), 64),
                          "truncated"),
    "100-deep VXLAN": (_deep("vxlan", 100), "too_deep"),
    # 30 kB frames: bigger than any MTU, so also counted as offload super-frames
    "1500-deep IPIP": (_deep("ipip", 1500), ("too_deep", "offload")),
    "1500-deep GRE": (_deep("gre", 1500), ("too_deep", "offload")),
    "400-deep IPIP": (_deep("ipip", 400), "too_deep"),
    "GRE inner IPv4 with length 0 and checksum 0": (
        _raw_ethernet(P.ipv4(NODE_A, NODE_B, struct.pack(">HH", 0, 0x0800) + _ipv4_with_zero_checksum(
            P.ipv4("10.244.1.5", "10.244.2.8", P.udp(7, 8, 3000), total_length=0)), proto=47)), "offload"),
}
COUNTER = {"malformed": "malformed", "truncated": "truncated", "too_deep": "too_deep", "offload": "offload_frames"}
FINDING = {"malformed": "capture.malformed", "truncated": "capture.truncated", "too_deep": "capture.too-deep",
           "offload": "capture.offload"}


@pytest.mark.parametrize("decoder", ["fast", "reference"])
@pytest.mark.parametrize("name", sorted(HOSTILE_PACKETS))
def test_hostile_packet_between_good_ones(tmp_path, name, decoder):
    frame, counts_as = HOSTILE_PACKETS[name]
    record = (frame[0], {"wirelen": frame[1]}) if isinstance(frame, tuple) else frame
    rep = report(write(tmp_path, pcap_file([flow_frame(0), record, flow_frame(1)])), decoder=decoder)
    capture = rep["capture"]
    assert capture["packets"] == 3
    assert {0, 1} <= sports(rep), "the packets around the hostile one are analysed"
    expected = {counts_as} if isinstance(counts_as, str) else set(counts_as)
    for kind, counter in COUNTER.items():
        assert capture[counter] == (1 if kind in expected else 0), (counter, capture)
        assert (FINDING[kind] in finding_ids(rep)) == (kind in expected), finding_ids(rep)
    assert not damage(rep), "packet-level trouble is not file damage"


def test_hundred_deep_vxlan_is_one_packet_and_one_finding(tmp_path):
    rep = report(write(tmp_path, pcap_file([_deep("vxlan", 100)])))
    assert rep["capture"]["packets"] == 1 and rep["capture"]["too_deep"] == 1
    assert rep["capture"]["malformed"] == 0
    assert rep["encapsulation_chains"] == {"vxlan>vxlan>vxlan>vxlan": 1}
    [finding] = [f for f in rep["findings"] if f["id"] == "capture.too-deep"]
    assert finding["count"] == 1 and finding["evidence"]["examples"]


def test_pathological_nesting_costs_bounded_time(tmp_path):
    """Packets nested thousands deep (the most a 64 KiB frame holds) must not make time explode."""
    frames = [_deep("ipip", 3200)] * 20 + [_deep("gre", 2700)] * 20 + flows(2)
    path = write(tmp_path, pcap_file(frames))
    started = time.monotonic()
    rep = report(path, decoder="reference")
    elapsed = time.monotonic() - started
    assert rep["capture"]["packets"] == 42 and rep["capture"]["too_deep"] == 40
    assert elapsed < 20, f"{elapsed:.1f} s for 40 deeply nested packets"


# -- bounded resources -------------------------------------------------------------------------------

def test_flow_cap_is_reported(tmp_path):
    rep = report(write(tmp_path, pcap_file(flows(150))), "--flow-cap", "100")
    assert len(rep["flows"]) == 100 and rep["capture"]["packets"] == 150
    [finding] = [f for f in rep["findings"] if f["id"] == "capture.flow-cap"]
    assert finding["count"] == 50 and finding["evidence"]["cap"] == 100


def ipv4_checksums(headers: np.ndarray) -> np.ndarray:
    """Header checksums of n 20-byte IPv4 headers (their checksum field zero), vectorised."""
    words = headers.astype(np.uint32)
    total = ((words[:, 0::2] << 8) | words[:, 1::2]).sum(axis=1)
    while (total >> 16).any():
        total = (total & 0xFFFF) + (total >> 16)
    return (~total & 0xFFFF).astype(">u2")


def million_flow_pcap(path: Path, n: int = 1_000_000, payload: int = 8) -> int:
    """n VXLAN packets (flannel: UDP 8472, VNI 1) between 8 node pairs, each its own inner TCP flow
    from its own pod address: n distinct flows and n distinct addresses. Built from a template
    with numpy, not packet by packet."""
    template = _outer(P.ipv4("10.128.0.0", "10.244.0.10", P.tcp(1024, 80, flags="PA", seq=1, payload=payload)))
    frame_len = len(template)
    rows = np.empty((n, 16 + frame_len), dtype=np.uint8)
    rows[:, 16:] = np.frombuffer(template, dtype=np.uint8)
    i = np.arange(n, dtype=np.uint32)
    stamps = np.empty(n, dtype=[("sec", "<u4"), ("usec", "<u4"), ("caplen", "<u4"), ("wirelen", "<u4")])
    stamps["sec"], stamps["usec"] = T0 + i // 100_000, (i % 100_000) * 10
    stamps["caplen"] = stamps["wirelen"] = frame_len
    rows[:, :16] = stamps.view(np.uint8).reshape(n, 16)
    outer, inner = 16 + 14, 16 + 14 + 20 + 8 + 8 + 14
    node = (i % 8).astype(np.uint8)
    rows[:, outer + 15] = 10 + node                                         # 192.168.1.10-17
    rows[:, outer + 19] = 110 + node                                        # 192.168.1.110-117
    rows[:, outer + 10:outer + 12] = 0
    rows[:, outer + 10:outer + 12] = ipv4_checksums(rows[:, outer:outer + 20]).view(np.uint8).reshape(n, 2)
    rows[:, 16 + 34:16 + 36] = (49152 + i % 16384).astype(">u2").view(np.uint8).reshape(n, 2)   # outer UDP sport
    source = (0x0A800000 + i).astype(">u4")                                 # 10.128.0.0 + i: one pod per flow
    rows[:, inner + 12:inner + 16] = source.view(np.uint8).reshape(n, 4)
    rows[:, inner + 10:inner + 12] = 0
    rows[:, inner + 10:inner + 12] = ipv4_checksums(rows[:, inner:inner + 20]).view(np.uint8).reshape(n, 2)
    rows[:, inner + 20:inner + 22] = (1024 + i % 60000).astype(">u2").view(np.uint8).reshape(n, 2)
    rows[:, inner + 24:inner + 28] = (i * 7919).astype(">u4").view(np.uint8).reshape(n, 4)     # TCP seq
    rows[:, inner + 36:inner + 38] = 0                                      # TCP checksum: not checked
    with open(path, "wb") as out:
        out.write(pcap_file([]))
        out.write(rows.tobytes())
    return frame_len


class MemoryBoundExceeded(AssertionError):
    pass


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and its descendants, from /proc (0 once it is gone)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
            with open(f"/proc/{current}/task/{current}/children") as children:
                todo += [int(c) for c in children.read().split()]
        except (OSError, ValueError):
            continue
    return total


def test_million_distinct_flows_within_the_memory_bound(tmp_path):
    """1,000,000 distinct flows (and pod addresses), default --flow-cap, default decoder and jobs:
    the flow table is capped, the report says so, and the largest process stays within 250 MB
    (ru_maxrss of the child, as bench/ measures it)."""
    path = tmp_path / "million.pcap"
    million_flow_pcap(path)
    out = tmp_path / "million.json"
    err = tmp_path / "million.err"
    started = time.monotonic()
    # A child forked from this (large) test process starts with its resident pages in ru_maxrss; a small
    # launcher process starts pcapdiag instead and reports the peak of its children (pcapdiag and workers).
    launcher = ("import resource, subprocess, sys\n"
                "code = subprocess.call(sys.argv[2:])\n"
                "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
                "sys.exit(code)\n")
    peak_file = tmp_path / "million.peak"
    with open(err, "wb") as stderr:
        child = subprocess.Popen([sys.executable, "-c", launcher, str(peak_file), sys.executable, "-m", "pcapdiag",
                                  "analyze", str(path), "--format", "json", "-q", "-o", str(out)],
                                 stdout=subprocess.DEVNULL, stderr=stderr, cwd=REPO,
                                 env={k: v for k, v in os.environ.items() if k != "PCAPDIAG_DEBUG"})
    tree_peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            tree_peak[0] = max(tree_peak[0], _tree_rss_kb(child.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    elapsed = time.monotonic() - started
    peak_mb = int(peak_file.read_text()) / 1024          # Linux: KiB; the largest of pcapdiag's processes
    summary = (f"1M flows: {elapsed:.0f} s, peak RSS {peak_mb:.0f} MB (largest process), "
               f"{tree_peak[0] / 1024:.0f} MB (whole process tree, sampled)")
    print(summary)
    assert child.returncode == 0, err.read_text()
    assert "Traceback" not in err.read_text()
    rep = json.loads(out.read_text())
    assert rep["capture"]["packets"] == 1_000_000
    [cap] = [f for f in rep["findings"] if f["id"] == "capture.flow-cap"]
    kept = cap["evidence"]["cap"]
    assert len(rep["flows"]) == kept and cap["count"] == 1_000_000 - kept
    assert cap["evidence"]["evicted_packets"] == 1_000_000 - kept
    if peak_mb > MEMORY_BOUND_MB:
        raise MemoryBoundExceeded(summary + f" > {MEMORY_BOUND_MB} MB")
