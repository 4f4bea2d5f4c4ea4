"""Flag parsing shared by the command-line tools."""

import argparse

_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n"}


def str_to_bool(value) -> bool:
    """The original scripts' absl boolean flags accept true/false spellings; so do ours."""
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def add_bool(parser, name, default, help_text=""):
    """`--name`, `--name=true|false` and `--noname`, the spellings absl accepted for the original's flags."""
    parser.add_argument(f"--{name}", type=str_to_bool, nargs="?", const=True, default=default,
                        help=f"{help_text} (default: {str(default).lower()})".strip())
    parser.add_argument(f"--no{name}", dest=name, action="store_false", help=argparse.SUPPRESS)


def show_defaults(parser: argparse.ArgumentParser, example: str = "") -> argparse.ArgumentParser:
    """Every option's help ends with its default, and ``example`` (a command line) closes the help.

    ``ArgumentDefaultsHelpFormatter`` would skip options without help text and cannot be combined
    with the raw layout of the tools' descriptions, so the defaults are written into the help here.
    Options whose default is None or False, or whose help already names it, are left alone.
    """
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        if action.default in (None, False, argparse.SUPPRESS) or "default" in (action.help or ""):
            continue
        default = ",".join(map(str, action.default)) if isinstance(action.default, (list, tuple)) else action.default
        text = str(default).lower() if isinstance(default, bool) else str(default).replace("%", "%%")
        action.help = f"{action.help} (default: {text})" if action.help else f"(default: {text})"
    if example:
        parser.formatter_class = _raw_layout(parser.formatter_class)
        parser.epilog = (parser.epilog + "\n\n" if parser.epilog else "") + "example:\n  " + example.strip()
    return parser


def _raw_layout(formatter_class):
    # The example must keep its line breaks.
    if issubclass(formatter_class, argparse.RawDescriptionHelpFormatter):
        return formatter_class
    return argparse.RawDescriptionHelpFormatter
