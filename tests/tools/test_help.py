"""Every console script's --help shows each option's default and one example command line."""

import argparse
import importlib

import pytest

from tests.test_startup import console_scripts


@pytest.mark.parametrize("script,module", sorted(console_scripts().items()))
def test_help_shows_defaults_and_an_example(script, module):
    parser = importlib.import_module(module).build_parser()
    assert parser.prog == script
    text = parser.format_help()
    missing = [
        action.option_strings[0] for action in parser._actions
        if action.option_strings and action.help != argparse.SUPPRESS
        and action.default not in (None, False, argparse.SUPPRESS) and "default" not in parser._get_formatter()._expand_help(action)
    ]
    assert not missing, f"{script} --help shows no default for {missing}"
    after = text.split("example:", 1)
    assert len(after) == 2, f"{script} --help has no 'example:' section"
    assert after[1].lstrip().startswith(script), f"{script}'s example does not start with the command"
