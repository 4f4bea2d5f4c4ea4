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


#: The flags issue 19 added (LoRA, LiteRT precision, ONNX): each one's help gives an example of its own.
ISSUE_19_FLAGS = {
    "tools.finetune": ("--lora_rank", "--lora_alpha", "--lora_targets", "--lora_train_layernorm"),
    "tools.export": ("--merge_lora", "--tflite", "--quantize", "--representative_records",
                     "--representative_examples", "--onnx"),
}


@pytest.mark.parametrize("module", sorted(ISSUE_19_FLAGS))
def test_issue_19_flags_show_an_example_and_their_default(module):
    parser = importlib.import_module(module).build_parser()
    formatter = parser._get_formatter()
    helps = {action.option_strings[0]: " ".join(formatter._expand_help(action).split())
             for action in parser._actions if action.option_strings and action.help}
    for flag in ISSUE_19_FLAGS[module]:
        assert f"e.g. {flag}" in helps[flag], f"{flag}: {helps[flag]}"
        assert "(default: " in helps[flag] or "required" in helps[flag], f"{flag}: {helps[flag]}"
