"""Builders for tests, the benchmark and the sample maker (like ``polars.testing``): not used by the analysis.

* ``pcapdiag.testing.checksum``: the internet checksum (RFC 1071), the one copy in the repository;
* ``pcapdiag.testing.packets``: link framings, IPv4/IPv6, TCP/UDP/ICMP and the overlay encapsulations;
* ``pcapdiag.testing.files``: classic pcap and pcapng writers, with lying headers where a test needs them;
* ``pcapdiag.testing.traffic``: the benchmark's synthetic cluster traffic (bench/make_capture.py writes it).

``checksum`` is standard library only (the lab agent runs it inside network namespaces); packets and
traffic import dpkt, traffic numpy too. Importing ``pcapdiag`` never imports this package.
"""
