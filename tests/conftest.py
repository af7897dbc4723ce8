"""Shared fixtures: the real-capture corpus (skipped cleanly when absent) and a CLI runner."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("PCAPDIAG_CORPUS", REPO.parent / "shared" / "corpus"))
LAB = CORPUS / "lab"
SAMPLES = REPO / "sample_pcaps"


def corpus_files(folder: Path = CORPUS) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".pcap", ".pcapng", ".gz"))


needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")


def run_cli(*args, input=None):
    from pcapdiag.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def analyze_json(path, *args) -> dict:
    result = run_cli("analyze", path, "--format", "json", "-q", *args)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def lab_reports():
    """JSON reports of every lab capture, computed once per session."""
    cache: dict = {}

    def get(name: str, *args) -> dict:
        key = (name, args)
        if key not in cache:
            cache[key] = analyze_json(LAB / name, *args)
        return cache[key]

    return get
