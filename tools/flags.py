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
