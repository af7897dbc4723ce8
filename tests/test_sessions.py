"""Encrypted tunnel sessions (analyzers/sessions.py) on fact batches built here: WireGuard handshakes answered,
unanswered, answered in a later chunk, rekeys; ESP SAs, rekeys and sequence gaps and resets; IKE requests
and responses; split states merging to the one-pass result; the caps keeping a hostile capture bounded. Then
the encrypted sample captures against their truth.json."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import pcapdiag
from pcapdiag.analyzers import sessions
from pcapdiag.analyzers.sessions import SessionsAnalyzer
from pcapdiag.capture import open_capture
from pcapdiag.decode import ReferenceDecoder
from pcapdiag.decode.facts import Facts
from pcapdiag.report.machine import render_json

A, B, C = "192.168.71.11", "192.168.71.12", "192.168.71.13"
COLUMNS = {"crypto_kind": "", "crypto_msg": "", "crypto_sender": -1, "crypto_receiver": -1, "crypto_seq": -1,
           "crypto_reply": False, "outer_src": "", "outer_dst": "", "tunnel_port": -1, "outer_len": -1,
           "ts": 0.0, "frame": -1}


def batch(packets: list[dict], start: int = 0) -> Facts:
    """Facts of these packets (each a dict of the columns it sets), the first `start` packets into its
    capture: one a second from 100 s on, frames numbered from 1 in the batch (as a unit's decoder numbers)."""
    rows = [{**COLUMNS, "frame": 1 + at, "ts": 100.0 + start + at, **packet} for at, packet in enumerate(packets)]
    return Facts({name: np.array([row[name] for row in rows],
                                 dtype=object if isinstance(missing, str) else type(missing))
                  for name, missing in COLUMNS.items()})


def wg(src, dst, message, **fields) -> dict:
    size = {"initiation": 176, "response": 120, "cookie-reply": 92}.get(message, 1480)
    return {"crypto_kind": "wireguard", "crypto_msg": message, "outer_src": src, "outer_dst": dst,
            "tunnel_port": 51871, "outer_len": size, **{"crypto_" + name: value for name, value in fields.items()}}


def handshake(initiator, responder, sender, receiver) -> list[dict]:
    return [wg(initiator, responder, "initiation", sender=sender),
            wg(responder, initiator, "response", sender=receiver, receiver=sender, reply=True)]


def data(src, dst, receiver, count, first_counter=0) -> list[dict]:
    return [wg(src, dst, "transport-data", receiver=receiver, seq=first_counter + n) for n in range(count)]


def esp(src, dst, spi, seqs) -> list[dict]:
    return [{"crypto_kind": "esp", "crypto_msg": "esp", "outer_src": src, "outer_dst": dst, "crypto_receiver": spi,
             "crypto_seq": seq, "outer_len": 1400} for seq in seqs]


def ike(src, dst, exchange, reply=False) -> dict:
    return {"crypto_kind": "ike", "crypto_msg": exchange, "outer_src": src, "outer_dst": dst, "crypto_reply": reply,
            "outer_len": 300}


def analyze(packets: list[dict], splits=()) -> sessions.SessionsResult:
    """One pass, or one state per piece (cut at the given packet positions) merged in order."""
    cuts = [0, *splits, len(packets)]
    states = []
    for start, stop in zip(cuts, cuts[1:]):
        state = SessionsAnalyzer()
        state.update(batch(packets[start:stop], start))
        state.shift_frames(start)
        states.append(state)
    for later in states[1:]:
        states[0].merge(later)
    return states[0].result()


def pair_of(result, tunnel="wireguard") -> dict:
    (pair,) = [p for p in result.pairs if p["tunnel"] == tunnel]
    return pair


def direction(pair, src, dst) -> dict:
    return next(d for d in pair["directions"] if (d["src"], d["dst"]) == (src, dst))


def test_no_encrypted_rows_leave_nothing():
    state = SessionsAnalyzer()
    state.update(batch([{"outer_src": A, "outer_dst": B, "outer_len": 100}] * 3))
    assert state.result().pairs == []


def test_answered_handshake_then_data_both_ways():
    packets = handshake(A, B, 0x11, 0x22) + data(B, A, 0x11, 3) + data(A, B, 0x22, 4)
    pair = pair_of(analyze(packets))
    assert pair["peers"] == [A, B]
    assert (pair["initiations"], pair["handshakes"], pair["unanswered_initiations"], pair["rekeys"]) == (1, 1, 0, 0)
    assert pair["sessions"] == ["0x00000022<->0x00000011"] and pair["receiver_indices"] == 2
    assert pair["data_packets"] == 7 and pair["data_bytes"] == 7 * 1480
    forward = direction(pair, A, B)
    assert forward["answered_initiations"] == 1 and forward["unanswered"] == []
    assert forward["receiver_indices"] == ["0x00000022"] and forward["port"] == 51871
    assert forward["messages"]["initiation"] == {"packets": 1, "bytes": 176, "first": 100.0, "last": 100.0,
                                                 "first_frame": 1, "last_frame": 1}
    assert forward["messages"]["transport-data"]["first_frame"] == 6
    assert direction(pair, B, A)["responses_without_initiation"] == 0


def test_unanswered_initiations_keep_their_frames():
    packets = [wg(A, B, "initiation", sender=sender) for sender in (7, 8, 9)]
    pair = pair_of(analyze(packets))
    assert (pair["initiations"], pair["handshakes"], pair["unanswered_initiations"]) == (3, 0, 3)
    assert [(u["sender"], u["frame"], u["ts"]) for u in direction(pair, A, B)["unanswered"]] == \
        [("0x00000007", 1, 100.0), ("0x00000008", 2, 101.0), ("0x00000009", 3, 102.0)]


def test_a_cookie_reply_answers_an_initiation_but_completes_no_handshake():
    packets = [wg(A, B, "initiation", sender=5), wg(B, A, "cookie-reply", receiver=5)]
    pair = pair_of(analyze(packets))
    assert (pair["unanswered_initiations"], pair["handshakes"], pair["cookie_replies"]) == (0, 0, 1)


def test_rekeys_are_initiations_after_a_completed_handshake():
    packets = ([wg(A, B, "initiation", sender=1)] + handshake(A, B, 2, 3) + data(A, B, 3, 2)
               + handshake(B, A, 4, 5) + handshake(A, B, 6, 7))
    pair = pair_of(analyze(packets))
    assert (pair["initiations"], pair["handshakes"], pair["rekeys"], pair["unanswered_initiations"]) == (4, 3, 2, 1)
    assert len(pair["sessions"]) == 3 and pair["receiver_indices"] == 1    # data only under the first session


def test_a_response_without_its_initiation_is_counted_not_matched():
    pair = pair_of(analyze([wg(B, A, "response", sender=3, receiver=99)]))
    assert direction(pair, B, A)["responses_without_initiation"] == 1 and pair["handshakes"] == 1


HEALTHY_MIX = (handshake(A, B, 0x11, 0x22) + data(A, B, 0x22, 5) + esp(A, C, 0x1000, range(1, 6))
               + [ike(A, C, "create_child_sa")] + data(B, A, 0x11, 3) + [ike(C, A, "create_child_sa", reply=True)]
               + esp(C, A, 0x2000, [1, 2, 3]) + [wg(A, B, "initiation", sender=0x33)]
               + esp(A, C, 0x1001, [1, 2, 5, 4, 6]) + esp(A, C, 0x1000, [6, 7]) + handshake(B, A, 0x44, 0x55)
               + [wg(A, B, "initiation", sender=0x66)] + data(B, A, 0x55, 2))


@pytest.mark.parametrize("splits", [(1,), (2,), (5, 9), (7, 14, 20), tuple(range(1, len(HEALTHY_MIX)))],
                         ids=lambda splits: f"cut-{len(splits)}")
def test_split_states_merge_to_the_one_pass_result(splits):
    """Chunks of one capture merged in order: a response in a later chunk answers an earlier initiation, an
    SA's runs continue across the seam, rekeys count the same."""
    assert analyze(HEALTHY_MIX, splits) == analyze(HEALTHY_MIX)


def test_a_response_in_the_next_chunk_answers_the_initiation():
    result = analyze(handshake(A, B, 1, 2), splits=(1,))
    pair = pair_of(result)
    assert pair["unanswered_initiations"] == 0 and direction(pair, B, A)["responses_without_initiation"] == 0


def test_esp_spis_rekeys_gaps_and_resets():
    packets = (esp(A, B, 0x1000, [1, 2, 4, 3, 5, 9]) + esp(B, A, 0x2000, [1, 2])
               + esp(A, B, 0x1001, [1, 2, 3, 500, 501, 2, 3])
               + [ike(A, B, "ike_sa_init"), ike(B, A, "ike_sa_init", reply=True), {
                   "crypto_kind": "nat-keepalive", "crypto_msg": "keepalive", "outer_src": A, "outer_dst": B,
                   "outer_len": 29}])
    for splits in ((), (3,), (10, 13), (11,)):
        pair = pair_of(analyze(packets, splits), "ipsec")
        assert (pair["spis"], pair["rekeys"], pair["esp_packets"]) == (3, 1, 15)
        assert (pair["ike_requests"], pair["ike_responses"], pair["nat_keepalives"]) == (1, 1, 1)
        sas = {sa["spi"]: sa for sa in direction(pair, A, B)["sas"]}
        # 1-9 with 6 sent: 3 missing; reordering (4 before 3) costs nothing
        assert (sas["0x00001000"]["missing"], sas["0x00001000"]["resets"]) == (3, 0)
        # 1, 2, 3, 500, 501 then back to 2: a reset; 4-499 missing in the first run
        assert (sas["0x00001001"]["missing"], sas["0x00001001"]["resets"]) == (496, 1)
        assert sas["0x00001001"]["seq_first"] == 1 and sas["0x00001001"]["seq_last"] == 3
        assert direction(pair, A, B)["messages"]["ike_sa_init request"]["packets"] == 1


def test_hostile_indices_and_peers_stay_bounded(monkeypatch):
    """Millions of indices would be millions of entries: the caps hold and what they leave out is counted."""
    monkeypatch.setattr(sessions, "DIRECTION_CAP", 4)
    count = 5000
    packets = ([wg(A, B, "initiation", sender=n) for n in range(count)] + data(A, B, 0, 1)
               + [{**row, "crypto_receiver": n} for n, row in enumerate(data(A, B, 0, count))]
               + [wg(f"10.0.{n // 256}.{n % 256}", B, "initiation", sender=n) for n in range(50)])
    state = SessionsAnalyzer()
    state.update(batch(packets))
    result = state.result()
    forward = next(d for p in result.pairs for d in p["directions"] if (d["src"], d["dst"]) == (A, B))
    assert len(state.directions) == 4 and result.dropped["directions"] == result.dropped["packets"] == 47
    assert len(state.directions[("wireguard", A, B)].pending) == sessions.PENDING_CAP
    assert forward["unanswered_initiations"] == count       # evicted ones still count as unanswered
    assert [u["sender"] for u in forward["unanswered"]] == [f"0x{n:08x}" for n in range(sessions.EXAMPLES)]
    assert len(forward["receiver_indices"]) == sessions.INDEX_CAP
    assert forward["indices_dropped"] == count - sessions.INDEX_CAP
    assert result.dropped["expired_initiations"] == count - sessions.PENDING_CAP


# -- the encrypted sample captures (sample_pcaps/encrypted: real WireGuard, byte-built ESP and IKE) --------------

ENCRYPTED = Path(__file__).resolve().parent.parent / "sample_pcaps" / "encrypted"
TRUTH = json.loads((ENCRYPTED / "truth.json").read_text())


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_sample_captures_raise_the_handshake_finding_where_truth_says(name):
    truth = TRUTH[name]
    report = json.loads(render_json(pcapdiag.analyze(ENCRYPTED / name)))
    raised = {finding["id"]: finding for finding in report["findings"]}
    if truth["expected"].get("finding") == "tunnel.handshake-incomplete":
        assert raised["tunnel.handshake-incomplete"]["severity"] == "error"
        (entry,) = raised["tunnel.handshake-incomplete"]["evidence"]["pairs"]
        assert (entry["src"], entry["dst"]) == (truth["nodes"]["node1"], truth["nodes"]["node2"])
    else:
        assert "tunnel.handshake-incomplete" not in raised
    (pair,) = report["sessions"]["pairs"]
    measured = truth["measured"]
    if truth["kind"] == "wireguard":
        messages = measured["wireguard_messages"]
        assert pair["sessions"] == sorted(measured["sessions_by_receiver_index"])
        assert (pair["initiations"], pair["handshakes"], pair["cookie_replies"], pair["data_packets"]) == (
            messages["initiation"], messages["response"], messages["cookie_reply"], messages["transport_data"])
    else:
        spis = sorted(sa["spi"] for direction in pair["directions"] for sa in direction["sas"])
        assert spis == measured["spis"] and pair["esp_packets"] == measured["esp_packets"]
        assert pair["rekeys"] == len(truth.get("child_sas", [])) - 1 if spis else pair["rekeys"] == 0
        assert pair["ike_requests"] + pair["ike_responses"] == sum(measured["ike_messages_by_exchange_type_and_port"]
                                                                   .values())
        assert pair["nat_keepalives"] == measured["nat_keepalives"]
        assert all(sa["missing"] == sa["resets"] == 0 for direction in pair["directions"] for sa in direction["sas"])


@pytest.mark.parametrize("name", ["wg-healthy.pcap", "esp-tunnel.pcap", "esp-in-udp-4500.pcap"])
def test_sample_capture_cut_in_chunks_merges_to_one_pass(name):
    decoder = ReferenceDecoder()
    with open_capture(str(ENCRYPTED / name)) as capture:
        facts = Facts.concat([decoder.decode_batch(records) for records in capture.batches()])
    whole = SessionsAnalyzer()
    whole.update(facts)
    cuts = [0, len(facts) // 3, len(facts) // 3 + 1, 2 * len(facts) // 3, len(facts)]
    states = []
    for start, stop in zip(cuts, cuts[1:]):
        part = facts[np.arange(start, stop)]
        part["frame"] = np.arange(1, stop - start + 1, dtype=np.int64)
        state = SessionsAnalyzer()
        state.update(part)
        state.shift_frames(start)
        states.append(state)
    for later in states[1:]:
        states[0].merge(later)
    assert states[0].result() == whole.result() and whole.result().pairs
