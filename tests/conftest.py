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


CORPUS_HINT = ("set PCAPDIAG_CORPUS to the shared real-capture corpus (its lab/ folder holds the lab captures and "
               "their truth files) to run them")
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")


def corpus_header() -> str:
    """The one line that says why the corpus tests are skipped, and how to run them."""
    if CORPUS.is_dir():
        return f"shared corpus: {CORPUS} (the corpus and lab tests run)"
    return f"shared corpus: not found at {CORPUS}: the tests that need it are skipped; {CORPUS_HINT}"


def pytest_report_header(config):
    return corpus_header()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Skips are counted at the end of the run: say there, once, why most of them happened."""
    if not CORPUS.is_dir() and terminalreporter.stats.get("skipped"):
        terminalreporter.write_line(corpus_header())


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
