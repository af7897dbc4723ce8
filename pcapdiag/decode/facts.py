"""Packet facts: the one fixed set of columns every decoder produces.

This table is the seam between decode/ and analyze/: the reference decoder
(dpkt, one packet at a time) and the fast decoder (numpy, a whole batch at a
time) must produce identical rows, and analyzers read nothing else.

Integers use -1 for "absent" so that columns stay int64 (vectorisable);
strings use "" for absent. Addresses are text (IPv4 dotted, IPv6 compressed).
"""
from __future__ import annotations

import re

# (name, kind, missing value). kind: "i" int64, "f" float64, "s" str, "b" bool
COLUMNS: tuple[tuple[str, str, object], ...] = (
    ("frame", "i", -1),          # the record's number as Wireshark numbers frames (1: the file's first record;
                                 # a byte range of a file is numbered from 1 at its start, see RecordBatch)
    ("ts", "f", 0.0),            # seconds since the epoch
    ("caplen", "i", 0),          # bytes captured
    ("wirelen", "i", 0),         # bytes on the wire (record's original length)
    ("linktype", "i", -1),
    # encapsulation
    ("encap", "s", ""),          # chain, outermost first: "vxlan", "geneve>gre"; "native"; "non-ip"
    ("outer_class", "s", ""),    # first element of the chain (the class the packet is counted in)
    ("tunnel_port", "i", -1),    # UDP dst port of the outermost UDP tunnel
    ("vni", "i", -1),            # VXLAN VNI / Geneve VNI / GRE key of the outermost tunnel
    ("by_plausibility", "b", False),  # outermost tunnel recognised by header plausibility, not port
    # encrypted overlays and their control traffic (decode/encrypted.py), of the innermost one recognised
    ("crypto_kind", "s", ""),    # "wireguard", "esp", "ike", "nat-keepalive"
    ("crypto_msg", "s", ""),     # WireGuard message (encrypted.WIREGUARD_MESSAGES), "esp", the IKE exchange,
                                 # "keepalive"
    ("crypto_sender", "i", -1),  # WireGuard sender index (initiation, response)
    ("crypto_receiver", "i", -1),  # WireGuard receiver index (response, cookie reply, data); ESP: the SPI
    ("crypto_seq", "i", -1),     # WireGuard transport counter (-1 beyond int64); ESP sequence number
    ("crypto_reply", "b", False),  # a WireGuard response, an IKE message with the R (response) flag
    # outer (underlay) IP header
    ("outer_ipv", "i", 0),
    ("outer_src", "s", ""),
    ("outer_dst", "s", ""),
    ("outer_proto", "i", -1),
    ("outer_len", "i", -1),      # IP total length (IPv6: payload length + 40)
    ("outer_ip_id", "i", -1),
    ("outer_df", "b", False),
    ("outer_mf", "b", False),
    ("outer_frag_off", "i", 0),  # in bytes
    ("outer_ttl", "i", -1),
    ("outer_udp_csum", "i", -1),  # -1 not checked/not UDP tunnel, 0 zero (none), 1 good, 2 bad, 3 partial (offload)
    # innermost IP header (== outer for native)
    ("inner_ipv", "i", 0),
    ("inner_src", "s", ""),
    ("inner_dst", "s", ""),
    ("inner_proto", "i", -1),    # IP protocol; ARP_PROTO for ARP inside a tunnel (then inner_ipv 0)
    ("inner_len", "i", -1),
    ("inner_ip_id", "i", -1),
    ("inner_df", "b", False),
    ("inner_mf", "b", False),
    ("inner_frag_off", "i", 0),
    ("inner_smac", "s", ""),     # inner Ethernet of VXLAN/Geneve (the VTEP MAC)
    ("inner_dmac", "s", ""),
    # innermost L4
    ("sport", "i", -1),
    ("dport", "i", -1),
    ("tcp_flags", "i", -1),
    ("tcp_seq", "i", -1),
    ("tcp_ack", "i", -1),        # acknowledgement number, when the ACK flag is set
    ("tcp_sack_right", "i", -1),  # the largest right edge of the SACK blocks (option 5), in sequence space
                                  # (serial arithmetic, RFC 1982: an edge past 2**32 is later); -1 without one
    ("tcp_payload", "i", -1),    # TCP payload bytes by the IP length (not the captured bytes)
    ("tcp_mss", "i", -1),        # MSS option of a SYN
    # ICMP errors (innermost), with the packet they quote
    ("icmp_type", "i", -1),
    ("icmp_code", "i", -1),
    ("icmp_echo", "i", -1),      # echo request/reply: identifier << 16 | sequence (tells pings apart)
    ("icmp_mtu", "i", -1),       # next-hop MTU of ICMP 3/4, MTU of ICMPv6 2
    ("quoted_src", "s", ""),     # innermost addresses of the quoted packet (tunnels unwrapped)
    ("quoted_dst", "s", ""),
    ("quoted_proto", "i", -1),
    ("quoted_sport", "i", -1),
    ("quoted_dport", "i", -1),
    ("quoted_len", "i", -1),
    ("quoted_encap", "s", ""),
    # anomalies
    ("truncated", "b", False),   # snaplen cut before the innermost header we wanted
    ("malformed", "b", False),   # a header that does not parse
    ("offload", "b", False),     # GSO/GRO/TSO/BIG TCP super-frame: IP length 0, partial checksum, > jumbo
    ("too_deep", "b", False),    # nesting beyond MAX_DEPTH
    ("nested_loop", "b", False),  # a tunnel inside a tunnel between the same two addresses (a VTEP loop)
    ("mirror", "s", ""),         # the port mirror (ERSPAN) this frame arrived in, unwrapped: "erspan-2 A > B session N"
    ("bgp_prefixes", "s", ""),   # BGP UPDATE NLRI announced in this segment, space-separated
    # set after decoding (decoders leave the missing value)
    ("duplicate", "b", False),   # the same packet seen again on another interface (analyzers/duplicates.py)
)

COLUMN_NAMES = tuple(name for name, _, _ in COLUMNS)
# Text columns the analyzers group by. Each also comes as an int64 "<name>_key" column: grouping on
# ints is ~10x faster than on Python strings, and the text is looked up once per group, not per packet.
KEYED = ("encap", "outer_class", "outer_src", "outer_dst", "inner_src", "inner_dst", "inner_smac")
KEY_SUFFIX = "_key"
UNKNOWN_KEY = -2   # a decoder's placeholder: compute this row's key from its text
DEFAULTS = {name: missing for name, _, missing in COLUMNS}
MAX_DEPTH = 4


def new_row() -> dict:
    return dict(DEFAULTS)


class TextColumn:
    """A text column as codes into a table of its distinct texts (code -1: the table's last entry, ""): a
    decoder formats each distinct address once, and an analyzer looks rows up only where it reads them."""

    __slots__ = ("codes", "texts")

    def __init__(self, codes, texts):
        self.codes = codes
        self.texts = texts

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, rows):
        """The texts of some rows (a mask or positions), as an object array."""
        return self.texts.take(self.codes[rows])

    def select(self, rows) -> "TextColumn":
        return TextColumn(self.codes[rows], self.texts)

    def with_rows(self, rows, values: list) -> "TextColumn":
        """The column with these rows set to these texts."""
        import numpy as np

        texts = np.empty(len(self.texts) + len(values), dtype=object)
        texts[:len(self.texts) - 1] = self.texts[:-1]
        texts[len(self.texts) - 1:-1] = values
        texts[-1] = self.texts[-1]
        codes = self.codes.copy()
        codes[rows] = np.arange(len(self.texts) - 1, len(self.texts) - 1 + len(values))
        return TextColumn(codes, texts)


class Facts:
    """A batch of packet facts: one numpy array per column (text as object arrays), all as long as the batch.

    A plain column store, not a DataFrame: every analyzer reads a few columns of every batch, and a
    DataFrame's cost per construction and per column access outweighed the work on the columns.
    facts["name"] is a column; facts.take(name, rows) some of its rows; facts[mask or positions] the
    selected rows, as Facts; frame() a DataFrame of them, for the rare paths (and tests) that want pandas.
    A text column may come as a TextColumn: it is turned into an array when first read whole."""

    __slots__ = ("columns", "length")

    def __init__(self, columns: dict):
        self.columns = columns
        self.length = len(next(iter(columns.values()))) if columns else 0

    def __getitem__(self, key):
        if isinstance(key, str):
            values = self.columns[key]
            if isinstance(values, TextColumn):
                values = self.columns[key] = values.texts.take(values.codes)
            return values
        return Facts({name: values.select(key) if isinstance(values, TextColumn) else values[key]
                      for name, values in self.columns.items()})

    def take(self, name: str, rows):
        """The values of a column at some rows (a mask or positions)."""
        return self.columns[name][rows]

    def filled(self, name: str):
        """The positions of the rows whose text column `name` is not "": a TextColumn is read through its table
        of distinct texts (one truth value per text), not row by row."""
        import numpy as np

        values = self.columns[name]
        if isinstance(values, TextColumn):
            return np.flatnonzero(values.texts.astype(bool)[values.codes])
        return np.flatnonzero(values != "")

    def __setitem__(self, name: str, values) -> None:
        self.columns[name] = values

    def __contains__(self, name) -> bool:
        return name in self.columns

    def __len__(self) -> int:
        return self.length

    @property
    def empty(self) -> bool:
        return self.length == 0

    @classmethod
    def concat(cls, parts: list) -> "Facts":
        """The rows of several Facts with the same columns, one after another."""
        import numpy as np

        if len(parts) == 1:
            return parts[0]
        return cls({name: np.concatenate([part[name] for part in parts]) for name in parts[0].columns})

    @classmethod
    def of_frame(cls, frame) -> "Facts":
        """The columns of a DataFrame as Facts."""
        return cls({name: frame[name].to_numpy() for name in frame.columns})

    def frame(self, names=None, rows=None):
        """Some columns (all when None) at some rows (all when None), as a DataFrame (text as objects)."""
        import pandas as pd

        names = list(self.columns) if names is None else list(names)
        return pd.DataFrame({name: text_column(self[name] if rows is None else self.take(name, rows))
                             for name in names}, columns=names)


def rows_to_facts(rows: list[dict]) -> Facts:
    """Turn decoded rows into Facts with the fixed column dtypes."""
    import numpy as np

    data = {}
    for name, kind, _ in COLUMNS:
        values = [row[name] for row in rows]
        if kind == "i":
            data[name] = np.array(values, dtype=np.int64)
        elif kind == "f":
            data[name] = np.array(values, dtype=np.float64)
        elif kind == "b":
            data[name] = np.array(values, dtype=bool)
        else:
            data[name] = np.array(values, dtype=object)
    data.update(key_columns(data))
    return Facts(data)


def text_column(values):
    """A column for a DataFrame, text as plain Python objects. Left to itself pandas 3 infers its "str"
    dtype, whose factorize (the heart of every group-by here) is several times slower on the same strings."""
    import pandas as pd

    return pd.Series(values, dtype=object, copy=False) if values.dtype == object else values


MAC_KEY_BASE = 1 << 32    # a MAC's key is its 48 bits above this: clear of every IPv4 key
_MAC_TEXT = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


def text_key(text: str) -> int:
    """The int64 that stands for a text value in group-bys. A pure function of the text, so frames of any
    batch or decoder agree, and equal for equal texts only: -1 for "", an IPv4 address's own 32 bits
    (dotted decimal as inet_ntoa writes it), MAC_KEY_BASE + a MAC's 48 bits (lower-case, as the decoders
    write them), else a 62-bit digest above all of those (two other texts share a key only if their
    BLAKE2 digests collide in 62 bits)."""
    import hashlib
    import socket

    if not text:
        return -1
    if len(text) == 17 and _MAC_TEXT.fullmatch(text):
        return MAC_KEY_BASE + int(text.replace(":", ""), 16)
    try:
        packed = socket.inet_pton(socket.AF_INET, text)
        if socket.inet_ntoa(packed) == text:      # the one spelling of the address
            return int.from_bytes(packed, "big")
    except (OSError, ValueError):      # not an IPv4 address (ValueError: a NUL in the text)
        pass
    digest = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
    return (1 << 62) | (digest & ((1 << 62) - 1))


def column_keys(values):
    """text_key of every value of an object array: one factorisation, one text_key per distinct value
    (None or NaN: -1, as "")."""
    import numpy as np

    from ..grouping import factorize

    codes, uniques = factorize(np.asarray(values, dtype=object))
    return np.array([-1 if text is None or text != text else text_key(text) for text in uniques.tolist()],
                    dtype=np.int64).take(codes)


def key_columns(text: dict, known: dict | None = None) -> dict:
    """The "<name>_key" columns of the KEYED text columns. known: keys a decoder already has (UNKNOWN_KEY
    where it has not); only those rows are computed from the text."""
    keys = {}
    for name in KEYED:
        values = text[name]
        given = None if known is None else known.get(name)
        if given is None:
            keys[name + KEY_SUFFIX] = column_keys(values)
            continue
        missing = given == UNKNOWN_KEY
        if missing.any():
            given[missing] = column_keys(values[missing])
        keys[name + KEY_SUFFIX] = given
    return keys


def grouping_column(facts, name: str):
    """A column as the analyzers group by it: a KEYED text column's int64 keys, any other as it is."""
    return keys_of(facts, name) if name in KEYED else facts[name]


def keys_of(facts, name: str):
    """The int64 keys of a KEYED text column of Facts or a DataFrame (computed when they have none; facts
    whose text columns are edited must drop their key columns, which are trusted as they are)."""
    import numpy as np

    column = name + KEY_SUFFIX
    if column in facts:
        return np.asarray(facts[column])
    return column_keys(np.asarray(facts[name], dtype=object))
