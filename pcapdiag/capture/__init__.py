"""capture/: capture files in, records out — streaming, bounded memory.

Reads classic pcap (both byte orders, µs and ns, Kuznetzov's modified
format) and pcapng (several sections, per-interface link types and timestamp
resolutions), either of them gzip-compressed, from a file or stdin ("-"). The
format is sniffed from the magic number, never the file name.

    with open_capture("trace.pcap.gz") as capture:
        for batch in capture.batches():      # RecordBatch: numpy columns over one buffer
            ...
        capture.damage, capture.warnings     # what was wrong inside the file

Importing this package does not import numpy; reading does.
"""
from .capture import Capture, open_capture, split_offsets
from .errors import CaptureError
from .linktypes import LINKTYPE_NAMES, describe_link_type
from .records import Record, RecordBatch

__all__ = [
    "Capture",
    "CaptureError",
    "LINKTYPE_NAMES",
    "Record",
    "RecordBatch",
    "describe_link_type",
    "open_capture",
    "split_offsets",
]
