"""The HTML report in a real browser: headless Chromium (Debian's `chromium`), driven over the Chrome DevTools
Protocol on --remote-debugging-pipe (NUL-separated JSON on fds 3 and 4: the standard library is enough).

Every sample and lab capture's page renders, logs no console error, makes no network request, draws its
charts (a screenshot of each is written next to the page), and a page made from a capture full of markup
shows it as text: no element of it reaches the DOM. Skipped where chromium is not installed.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pcapdiag.report.html import html_report, render_html

from test_html import PAYLOAD, SAMPLES, lab_captures, with_markup

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
         "--disable-default-apps", "--mute-audio", "--remote-debugging-pipe"]
TIMEOUT = 30.0


class Chromium:
    """One headless browser and one page, spoken to over the DevTools pipe."""

    def __init__(self, profile: Path):
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        def on_fds_3_and_4():
            # the browser reads commands on fd 3 and writes replies on fd 4; move both out of the way first
            # so neither dup2 can clobber the other
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (commands_read, replies_write)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.process = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, close_fds=False, preexec_fn=on_fds_3_and_4)
        os.close(commands_read)
        os.close(replies_write)
        self._next_id, self._buffer, self.events = 0, b"", []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=1200, height=900, deviceScaleFactor=1,
                  mobile=False)

    def call(self, method: str, session: bool = False, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read(TIMEOUT)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def wait_for(self, method: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not any(event.get("method") == method for event in self.events):
            self.events.append(self._read(deadline - time.monotonic()))

    def drain(self, seconds: float) -> None:
        """Collect whatever the page still does for a moment (late requests, late errors)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.events.append(self._read(max(deadline - time.monotonic(), 0.01)))
            except TimeoutError:
                return

    def open(self, page: Path) -> dict:
        """Load a page; what it did: requests made, console errors, exceptions."""
        self.events = []
        self.call("Page.navigate", session=True, url=page.resolve().as_uri())
        self.wait_for("Page.loadEventFired")
        self.drain(0.3)
        requests = [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]
        errors = [e["params"]["entry"]["text"] for e in self.events
                  if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
        errors += [json.dumps(e["params"]["args"]) for e in self.events
                   if e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert")]
        errors += [e["params"]["exceptionDetails"]["text"] for e in self.events
                   if e.get("method") == "Runtime.exceptionThrown"]
        return {"requests": requests, "errors": errors}

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        return result["result"].get("value")

    def screenshot(self, out: Path) -> None:
        size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
        shot = self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        out.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (TimeoutError, EOFError, OSError, RuntimeError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._replies)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


# what the DOM must hold: the sections, the charts, and nothing that runs or loads
PAGE_FACTS = """JSON.stringify({
  svgs: document.querySelectorAll('svg').length,
  paths: document.querySelectorAll('svg path, svg polyline, svg line').length,
  headings: Array.from(document.querySelectorAll('h2')).map(h => h.textContent),
  findings: document.querySelectorAll('section.finding').length,
  active: document.querySelectorAll('script, iframe, object, embed, img, link, form, base, meta[http-equiv=refresh]').length,
  handlers: Array.from(document.querySelectorAll('*')).filter(e => Array.from(e.attributes).some(a => /^on/i.test(a.name))).length,
  chartHeight: Array.from(document.querySelectorAll('svg')).reduce((s, e) => s + e.getBoundingClientRect().height, 0),
  text: document.body.innerText,
})"""


def check_page(browser, page: Path, shot: Path) -> dict:
    did = browser.open(page)
    assert did["errors"] == [], did["errors"]
    assert all(url.startswith("file://") for url in did["requests"]), did["requests"]    # the page itself only
    facts = json.loads(browser.evaluate(PAGE_FACTS))
    assert facts["active"] == 0 and facts["handlers"] == 0
    browser.screenshot(shot)
    assert shot.stat().st_size > 10_000     # a PNG with charts on it, not a blank page
    return facts


@pytest.mark.parametrize("capture", SAMPLES + lab_captures(), ids=lambda p: Path(p).name)
def test_report_renders_offline_without_errors_and_draws_its_charts(browser, tmp_path, capture):
    page = tmp_path / (Path(capture).name + ".html")
    page.write_text(html_report(str(capture)), encoding="utf-8")
    facts = check_page(browser, page, tmp_path / (Path(capture).name + ".png"))
    assert {"Findings", "Pictures", "Encapsulation", "MTU", "Capture"} <= set(facts["headings"])
    assert facts["svgs"] >= 3 and facts["paths"] > 20 and facts["chartHeight"] > 400
    assert "Packet sizes and the MTU cliff" in facts["text"] and "Over time" in facts["text"]


def test_markup_in_the_capture_stays_text(browser, tmp_path):
    """A file name full of markup, and markup in every string of the report and the series: all of it shows
    as text, none of it becomes an element, a handler, a script run or a request."""
    crafted = tmp_path / "<img src=x onerror=alert(1)><script>alert(1)<\\script>.pcap"
    shutil.copy(SAMPLES[-1], crafted)
    from pcapdiag import analyze
    from pcapdiag.report.series import collect_series

    report, series = with_markup(analyze(str(crafted)).to_dict(), collect_series(str(crafted)))
    page = tmp_path / "crafted.html"
    page.write_text(render_html(report, series), encoding="utf-8")
    facts = check_page(browser, page, tmp_path / "crafted.png")
    assert PAYLOAD in facts["text"] and crafted.name in facts["text"]
    assert browser.evaluate("document.title").startswith("pcapdiag report: " + crafted.name[:10])
