"""What a start imports (issue 16, the small end): the command line and --help load neither pandas nor numpy;
a plain analysis (text or JSON, either decoder, one process or the pool, and the library's analyze) loads no
pandas, dask, cluster reader, correlation or test builders (the analyzers fold their tables with numpy);
pandas only where a DataFrame is handed out (CSV, Report.flows_table), dask only when --scheduler asks."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import SAMPLES

OPTIONAL = ("dask", "distributed", "pcapdiag.cluster", "pcapdiag.correlate", "pcapdiag.testing", "matplotlib",
            "plotly", "bokeh")


def modules_after(code: str) -> set:
    """The modules a fresh interpreter has loaded after running code (which may exit)."""
    probe = ("import atexit, json, sys\n"
             "atexit.register(lambda: sys.__stderr__.write('\\nMODULES ' + json.dumps(sorted(sys.modules))))\n"
             + code)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return set(json.loads(done.stderr.rsplit("MODULES ", 1)[1]))


def loaded(modules: set, names) -> list:
    return sorted(name for name in names if name in modules or any(m.startswith(name + ".") for m in modules))


@pytest.mark.parametrize("code", ["import pcapdiag", "import pcapdiag.cli",
                                  "from pcapdiag.cli import main; main(['--help'])",
                                  "from pcapdiag.cli import main; main(['analyze', '--help'])"])
def test_the_command_line_starts_without_pandas_or_numpy(code):
    assert loaded(modules_after(code), ("pandas", "numpy") + OPTIONAL) == []


def cli_analysis(*arguments) -> str:
    """Code running `pcapdiag analyze` in-process; main(), not run(): run() leaves with os._exit, before the
    probe could list the modules."""
    return f"from pcapdiag.cli import main\nmain(['analyze', {', '.join(map(repr, arguments))}])"


@pytest.mark.parametrize("output", ["json", "text"])
@pytest.mark.parametrize("options", [(), ("--jobs", "1"), ("--decoder", "reference", "--jobs", "1"),
                                     ("--decoder", "reference")], ids=["pool", "jobs1", "reference", "reference-pool"])
def test_a_plain_analysis_loads_neither_pandas_nor_anything_optional(output, options):
    code = cli_analysis(str(SAMPLES / "vxlan-mtu-broken.pcap"), "-q", "--format", output, "-o", "/dev/null", *options)
    modules = modules_after(code)
    assert "pcapdiag.runner" in modules and "numpy" in modules
    assert loaded(modules, ("pandas",) + OPTIONAL) == []


def test_the_library_analysis_loads_no_pandas_until_a_table_is_asked_for():
    code = (f"import sys, pcapdiag\nreport = pcapdiag.analyze({str(SAMPLES / 'vxlan-4789.pcap')!r})\n"
            "flows = report.to_dict()['flows']\n"
            f"assert flows and not [m for m in {('pandas',) + OPTIONAL!r} if m in sys.modules], sorted(sys.modules)\n"
            "assert len(report.flows_table) == len(flows) and 'pandas' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_csv_is_written_with_pandas(tmp_path):
    out = tmp_path / "flows.csv"
    modules = modules_after(cli_analysis(str(SAMPLES / "vxlan-4789.pcap"), "-q", "--format", "csv", "-o", str(out)))
    assert "pandas" in modules
    header, *rows = out.read_text().splitlines()
    assert header.startswith("encap,outer_src,outer_dst,vni,src,dst,proto") and rows


def test_the_engine_module_loads_dask_only_when_used():
    assert loaded(modules_after("import pcapdiag.dask_engine"), ("dask", "distributed")) == []
