"""The results of a check, and their renderings: text (what `pcapdiag check` prints), JSON and JUnit XML.

    result = pcapdiag.check.check(["a.pcap", "b.pcap"], "expect.toml")
    result.passed, result.to_text(), result.to_json(), result.to_junit()
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from .. import __version__
from .expectations import Expectations
from .judge import ExpectationResult


def _plain(value):
    """JSON has no NaN or numpy scalars: the report's own cleaning, imported only when rendering."""
    from ..report.machine import _clean

    return _clean(value)


@dataclass
class CaptureCheck:
    """One capture judged: a result per expectation, and how long its analysis took."""
    file: str
    results: list[ExpectationResult]
    seconds: float
    timestamp: str  # local time the analysis started, ISO 8601 without a zone (JUnit's form)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.passed]

    def summary(self) -> str:
        total, failed = len(self.results), self.failed
        if not failed:
            return f"{self.file}: PASS, {total} of {total} expectations met"
        return (f"{self.file}: FAIL, {len(failed)} of {total} expectations failed "
                f"({', '.join(r.name for r in failed)})")

    def to_text(self) -> str:
        """A PASS/FAIL line per expectation and the summary line, without a final newline."""
        return "\n".join([result.line() for result in self.results] + [self.summary()])

    def to_dict(self) -> dict:
        return {"file": self.file, "passed": self.passed, "expectations": len(self.results),
                "failed": len(self.failed), "seconds": round(self.seconds, 3), "timestamp": self.timestamp,
                "results": [r.to_dict() for r in self.results]}


@dataclass
class CheckResult:
    """Captures judged, each on its own, against one set of expectations."""
    expectations: Expectations
    source: str = ""  # where the expectations came from, e.g. "expect.toml + command line"
    captures: list[CaptureCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.captures)

    def totals(self) -> str:
        passed = sum(c.passed for c in self.captures)
        return f"{len(self.captures)} captures: {passed} passed, {len(self.captures) - passed} failed"

    def to_text(self) -> str:
        """Each capture's lines, a blank line between captures, and the totals when there are several."""
        parts = [c.to_text() for c in self.captures]
        if len(self.captures) > 1:
            parts.append(self.totals())
        return "\n\n".join(parts) + "\n"

    def to_dict(self) -> dict:
        return _plain({"version": __version__, "passed": self.passed, "expectations_source": self.source,
                       "expectations": self.expectations.to_dict(), "captures": [c.to_dict() for c in self.captures]})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def to_junit(self) -> str:
        """JUnit XML (the Jenkins/GitLab/GitHub flavour): a suite per capture, a test case per expectation."""
        import xml.etree.ElementTree as ET

        total = sum(len(c.results) for c in self.captures)
        failures = sum(len(c.failed) for c in self.captures)
        root = ET.Element("testsuites", name="pcapdiag check", tests=str(total), failures=str(failures),
                          errors="0", time=f"{sum(c.seconds for c in self.captures):.3f}")
        for capture in self.captures:
            suite = ET.SubElement(root, "testsuite", name=capture.file, tests=str(len(capture.results)),
                                  failures=str(len(capture.failed)), errors="0", skipped="0",
                                  time=f"{capture.seconds:.3f}", timestamp=capture.timestamp)
            properties = ET.SubElement(suite, "properties")
            ET.SubElement(properties, "property", name="expectations", value=self.source)
            ET.SubElement(properties, "property", name="pcapdiag.version", value=__version__)
            for result in capture.results:
                case = ET.SubElement(suite, "testcase", classname=_classname(capture.file), name=result.name,
                                     time="0")
                if result.passed:
                    ET.SubElement(case, "system-out").text = result.line()
                else:
                    failure = ET.SubElement(case, "failure", message=f"{result.name}: {result.message}",
                                            type="ExpectationFailed")
                    failure.text = (f"{result.line()}\n"
                                    f"expected: {json.dumps(_plain(result.expected))}\n"
                                    f"observed: {json.dumps(_plain(result.observed))}\n"
                                    f"evidence: {result.evidence or '-'}\n")
            ET.SubElement(suite, "system-out").text = capture.summary()
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _classname(path: str) -> str:
    """JUnit renderers split classname on dots into package.class: keep the file name in one piece."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1] or path
    return "pcapdiag.check." + name.replace(".", "_")


__all__ = ["CaptureCheck", "CheckResult"]
