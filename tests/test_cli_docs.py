"""The README's "Command line" section documents every command and every option, and nothing else."""
from __future__ import annotations

import re

import click
import pytest

from conftest import REPO


def command_line_section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n## Command line\n")
    return readme[start:readme.index("\n## ", start + 1)]


def commands() -> dict:
    from pcapdiag.cli import main

    return {"": main, **main.commands}


def long_options(command: click.Command, name: str) -> set:
    """Every long option name, --help included (click adds it from the group's context settings)."""
    from pcapdiag.cli import main

    group = click.Context(main, info_name="pcapdiag", **main.context_settings)
    context = group if command is main else click.Context(command, parent=group, info_name=name)
    return {opt for param in command.get_params(context) if isinstance(param, click.Option)
            for opt in param.opts if opt.startswith("--")}


@pytest.mark.parametrize("name", [name for name in commands() if name])
def test_every_command_is_documented_with_its_help(name):
    assert f"pcapdiag {name} " in command_line_section()
    assert commands()[name].help, f"{name} has no help text"


@pytest.mark.parametrize("name", list(commands()))
def test_every_option_is_documented(name):
    section = command_line_section()
    missing = sorted(opt for opt in long_options(commands()[name], name) if not re.search(rf"{opt}\b", section))
    assert not missing, f"pcapdiag {name}: options not in the README's Command line section: {missing}"


def test_the_documented_options_exist():
    known = set().union(*(long_options(command, name) for name, command in commands().items()))
    documented = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*[a-z]", command_line_section()))
    assert not documented - known, f"documented but not an option: {sorted(documented - known)}"
