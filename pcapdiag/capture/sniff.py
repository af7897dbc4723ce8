"""Tell a capture from anything else by its first bytes, never by its name."""
from __future__ import annotations

from dataclasses import dataclass

GZIP_MAGIC = b"\x1f\x8b"
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"   # Section Header Block type; a palindrome, so byte order comes later


@dataclass(frozen=True)
class PcapFlavour:
    byte_order: str          # struct prefix: "<" little-endian, ">" big-endian
    nanosecond: bool         # second field of the record timestamp is ns, not µs
    record_header_len: int   # 16, or 24 for Kuznetzov's "modified pcap"


# The magic is written in the writer's byte order, so reading it tells both.
PCAP_MAGICS: dict[bytes, PcapFlavour] = {
    b"\xd4\xc3\xb2\xa1": PcapFlavour("<", False, 16),   # a1b2c3d4, µs
    b"\xa1\xb2\xc3\xd4": PcapFlavour(">", False, 16),
    b"\x4d\x3c\xb2\xa1": PcapFlavour("<", True, 16),    # a1b23c4d, ns
    b"\xa1\xb2\x3c\x4d": PcapFlavour(">", True, 16),
    # a1b2cd34: Alexey Kuznetzov's patched libpcap; record header adds
    # ifindex (4), protocol (2), pkt_type (1) and a pad byte.
    b"\x34\xcd\xb2\xa1": PcapFlavour("<", False, 24),
    b"\xa1\xb2\xcd\x34": PcapFlavour(">", False, 24),
}


def sniff_format(head: bytes) -> str | None:
    """'pcap', 'pcapng', 'gzip' or None."""
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    return None


# Other formats people hand to packet tools by mistake; first bytes -> description.
_OTHER_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"BZh", "a bzip2-compressed file (decompress it first)"),
    (b"\xfd7zXZ\x00", "an xz-compressed file (decompress it first)"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file (decompress it first)"),
    (b"\x04\x22\x4d\x18", "an LZ4-compressed file (decompress it first)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"snoop\x00\x00\x00", "a Solaris snoop capture (convert it to pcap with editcap)"),
    (b"GMBU", "a Microsoft Network Monitor capture (convert it to pcap with editcap)"),
    (b"XCP\x00", "a NetXray/Sniffer capture (convert it to pcap with editcap)"),
    (b"\x00\x00\x01\xba", "an MPEG video"),
)


def describe_non_capture(head: bytes) -> str:
    """What the bytes look like, for 'not a capture file' messages."""
    for magic, description in _OTHER_MAGICS:
        if head.startswith(magic):
            return description
    if head[257:262] == b"ustar":
        return "a tar archive"
    if _looks_like_text(head):
        if head.lstrip()[:1] in (b"{", b"["):
            return "a JSON or text file"
        return "a text file"
    return f"unknown data (first bytes {head[:4].hex(' ')})"


def _looks_like_text(head: bytes) -> bool:
    sample = head[:4096]
    if not sample or b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # a multi-byte character cut at the sample's end is fine
            return False
    controls = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 12, 13))
    return controls <= len(sample) // 100
