"""Encrypted-overlay lab for issue 17: WireGuard between node namespaces (real wireguard-go traffic) and
ESP / ESP-in-UDP / IKE captures built byte by byte where the kernel has no ESP (see crypto_lab.py)."""
