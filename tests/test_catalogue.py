"""The finding registry (pcapdiag/findings/__init__.py) against the README's catalogue table and the code
that raises each finding: every id documented, with the same severity, title, count unit and text."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pcapdiag.catalogue import CATALOGUE, SEVERITIES
from pcapdiag.findings import EXTERNAL_CHECKS, FAMILIES, SPECS, SPEC_BY_ID
from pcapdiag.findings.builder import check_of

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_catalogue() -> dict:
    """id -> {column: cell} of the README's "Finding catalogue" table."""
    section = README.read_text().split("## Finding catalogue\n", 1)[1].split("\n## ", 1)[0]
    def cells(line):
        return [cell.strip() for cell in line.strip().strip("|").split(" | ")]

    lines = section.splitlines()
    columns = cells(next(line for line in lines if line.startswith("| id ")))
    rows = [cells(line) for line in lines if line.startswith("| `")]
    return {re.fullmatch(r"`(.+)`", row[0]).group(1): dict(zip(columns, row)) for row in rows}


def test_every_catalogue_id_is_documented_once_in_the_readme_and_nothing_else():
    documented = readme_catalogue()
    assert list(documented) == [spec.id for spec in SPECS]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.id)
def test_the_readme_row_says_what_the_registry_says(spec):
    row = readme_catalogue()[spec.id]
    assert (row["severity"], row["title"], row["count counts"], row["raised when"]) == (
        spec.severity, spec.title, spec.counts_what, spec.doc)


def test_catalogue_is_the_registry():
    assert CATALOGUE == {spec.id: spec.severity for spec in SPECS}
    assert len(SPEC_BY_ID) == len(SPECS)       # no id declared twice
    assert {spec.severity for spec in SPECS} <= set(SEVERITIES)
    assert {spec.family for spec in SPECS if spec.check not in EXTERNAL_CHECKS} == set(FAMILIES)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.id)
def test_each_spec_names_a_check_of_its_family(spec):
    check = check_of(spec)
    module = EXTERNAL_CHECKS.get(spec.check, f"pcapdiag.findings.{spec.family}")
    assert callable(check) and check.__module__ == module


def test_checks_are_each_named_once():
    """One check per id of the builder's; an external check (a package's entry point) raises several ids."""
    built = [spec for spec in SPECS if spec.check not in EXTERNAL_CHECKS]
    assert len({(spec.family, spec.check) for spec in built}) == len(built)


def test_external_severities_are_their_packages():
    from pcapdiag.cluster import FINDINGS
    from pcapdiag.correlate import CATALOGUE as CORRELATE

    assert {**FINDINGS, **CORRELATE} == {spec.id: spec.severity for spec in SPECS if spec.check in EXTERNAL_CHECKS}


def test_fix_templates_fill_in():
    assert SPEC_BY_ID["mtu.mss-too-big"].fix_text(budget=1410) == (
        "set the pod MTU so the MSS is at most 1410, or clamp MSS to 1410 on the nodes")
    assert SPEC_BY_ID["capture.truncated"].fix_text() is None


def test_the_catalogue_stays_free_of_pandas():
    """The CLI reads CATALOGUE and SEVERITIES at start-up: the registry must not pull in the analysis."""
    code = "import sys, pcapdiag.catalogue\nassert 'pandas' not in sys.modules and 'numpy' not in sys.modules\n"
    subprocess.run([sys.executable, "-c", code], check=True)
