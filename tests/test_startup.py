"""What a start imports (issue 16, the small end): the command line and --help load neither pandas nor numpy,
and a plain analysis loads no dask, no cluster reader, no correlation and no test builders; dask only when
--scheduler asks for it. pandas is still imported by a plain analysis: the analyzers fold their evidence
tables with pandas group-bys (see the README's Benchmark section)."""
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


@pytest.mark.parametrize("output", ["json", "text"])
def test_a_plain_analysis_loads_nothing_optional(output):
    # main(), not run(): run() leaves with os._exit, before the probe could list the modules
    code = (f"from pcapdiag.cli import main\n"
            f"main(['analyze', {str(SAMPLES / 'vxlan-4789.pcap')!r}, '-q', '--format', '{output}', '-o', '/dev/null'])")
    modules = modules_after(code)
    assert "pcapdiag.runner" in modules
    assert loaded(modules, OPTIONAL) == []


def test_the_engine_module_loads_dask_only_when_used():
    assert loaded(modules_after("import pcapdiag.dask_engine"), ("dask", "distributed")) == []
