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


def _positive(convert, kind):
    def parse(value):
        try:
            number = convert(value)
        except ValueError:
            number = None
        if number is None or not number > 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind}, got {value!r}")
        return number

    return parse


#: argparse types for numbers above zero (argparse turns the error into one line naming the flag).
positive_int = _positive(int, "integer")
positive_float = _positive(float, "number")


def comma_list(value) -> tuple:
    """An argparse type: `a,b,c` as `("a", "b", "c")`, blanks dropped."""
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


def add_bool(parser, name, default, help_text=""):
    """`--name`, `--name=true|false` and `--noname`, the spellings absl accepted for the original's flags."""
    parser.add_argument(f"--{name}", type=str_to_bool, nargs="?", const=True, default=default,
                        help=f"{help_text} (default: {str(default).lower()})".strip())
    parser.add_argument(f"--no{name}", dest=name, action="store_false", help=argparse.SUPPRESS)


def add_tpu_flags(parser):
    """The original training scripts' TPU flags, in their order: `--use_tpu`, `--tpu_name`, `--tpu_zone`,
    `--gcp_project`. `strategy_options` reads them back with `--strategy`."""
    add_bool(parser, "use_tpu", False, "same as --strategy tpu")
    parser.add_argument("--tpu_name", "--tpu", dest="tpu", default=None)
    parser.add_argument("--tpu_zone", default=None)
    parser.add_argument("--gcp_project", default=None)


def strategy_options(args) -> dict:
    """The run options `strategy`, `tpu`, `tpu_zone`, `gcp_project` of the flags (`--use_tpu` wins over
    `--strategy`, as the original's only switch)."""
    return {"strategy": "tpu" if args.use_tpu else args.strategy, "tpu": args.tpu, "tpu_zone": args.tpu_zone,
            "gcp_project": args.gcp_project}


def select_strategy_from_flags(args):
    """The flags' `tf.distribute` strategy. Call it before any other TensorFlow work: a multi-worker
    strategy configures the runtime, which must not have started."""
    # Imported here, not at the top: `--help` and the data tools import this module without TensorFlow.
    from albert_tf.training.strategy import select_strategy

    options = strategy_options(args)
    return select_strategy(options.pop("strategy"), **options)


# ---------------------------------------------------------------------------------------------------
# Errors about user input as one-line messages.

#: Exit status for bad user input (argparse's own, for bad flags).
USAGE_EXIT_CODE = 2
TRACEBACK_FLAG = "--traceback"

# Errors that describe what the user gave (a flag, a file, a record). Checked by name so that this
# module, imported by the TensorFlow-free data tools, imports nothing heavy.
_USER_ERRORS = (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, FileExistsError)
_TF_USER_ERRORS = {"NotFoundError", "DataLossError", "PermissionDeniedError"}


def _is_user_error(error) -> bool:
    if isinstance(error, _USER_ERRORS):
        return True
    return type(error).__module__.startswith("tensorflow") and type(error).__name__ in _TF_USER_ERRORS


def _one_line(error) -> str:
    text = str(getattr(error, "message", "") or error).strip() or type(error).__name__
    return " ".join(text.split())


def cli_entry_point(prog):
    """Decorates a console script's `main(argv=None) -> int`: user-input errors become one line.

    A `ValueError` (so `albert_tf.errors.UserInputError`), a missing or unreadable file, or a
    TensorFlow file/record error is printed as ``prog: error: message`` on stderr and `main` returns 2,
    as argparse does for a bad flag. Anything else is a bug and keeps its traceback. ``--traceback``
    anywhere on the command line (or ``ALBERT_TF_TRACEBACK=1``) shows the traceback of user errors
    too; the flag is removed before `main` parses its arguments. Ctrl-C prints one line, exit 130;
    SIGTERM likewise, exit 143 (`interruptible`), so a scheduler reads both as "retry". A `main` that
    stops at a step boundary itself (the training tools) returns 128 + the signal the same way.

        @cli_entry_point("albert-example")
        def main(argv=None):
            args = build_parser().parse_args(argv)
            ...
            return 0
    """
    import functools
    import os
    import sys

    def decorate(main):
        @functools.wraps(main)
        def wrapper(argv=None):
            args = list(sys.argv[1:] if argv is None else argv)
            show = TRACEBACK_FLAG in args or os.environ.get("ALBERT_TF_TRACEBACK", "") not in ("", "0")
            args = [a for a in args if a != TRACEBACK_FLAG]
            try:
                with interruptible():
                    code = main(args)
            except KeyboardInterrupt:
                print(f"{prog}: interrupted", file=sys.stderr)
                return SIGINT_EXIT_CODE
            except Terminated:
                print(f"{prog}: stopped by SIGTERM; run the same command again", file=sys.stderr)
                return SIGTERM_EXIT_CODE
            except Exception as error:  # noqa: BLE001 (re-raised unless it is about user input)
                if show or not _is_user_error(error):
                    raise
                print(f"{prog}: error: {_one_line(error)}", file=sys.stderr)
                return USAGE_EXIT_CODE
            return 0 if code is None else code

        return wrapper

    return decorate


# ---------------------------------------------------------------------------------------------------
# Signals: a stopped command exits with 128 + the signal, what a shell reports for a process the signal
# killed and what Kubernetes, Slurm and retry loops read as "stopped, run again".

SIGINT_EXIT_CODE = 130
SIGTERM_EXIT_CODE = 143
EXIT_STATUS_HELP = ("exit status: 0 done; 2 bad input (one line on stderr); 130 stopped by SIGINT (Ctrl-C), "
                    "143 stopped by SIGTERM: run the same command again")


class interruptible:
    """Within it, SIGTERM raises `Terminated` in this process (the main thread); the previous handler
    comes back on exit. Forked workers that inherit it die of SIGTERM as by default (a pool's
    `terminate()` would otherwise print a traceback per worker)."""

    def __enter__(self):
        import os
        import signal

        self._pid = os.getpid()
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread: signals cannot be caught here
            self._previous = None
        return self

    def _handle(self, signum, frame):
        import os
        import signal

        if os.getpid() != self._pid:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated()

    def __exit__(self, *exc):
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
        return False


class Terminated(BaseException):
    """SIGTERM as an exception (like KeyboardInterrupt for SIGINT): `finally` blocks and context
    managers remove temporary files on the way out, and `cli_entry_point` exits with 143. The training
    engine reads `signal_name` to record the stop in results.json (it cannot import tools)."""

    signal_name = "SIGTERM"


def add_exit_status(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Says the exit statuses at the end of `--help` (the epilog)."""
    parser.epilog = (parser.epilog.rstrip() + "\n\n" if parser.epilog else "") + EXIT_STATUS_HELP
    parser.formatter_class = _raw_layout(parser.formatter_class)
    return parser


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
    # Every tool that shows its defaults runs under `cli_entry_point`, which gives these statuses.
    return add_exit_status(parser)


def _raw_layout(formatter_class):
    # The example must keep its line breaks.
    if issubclass(formatter_class, argparse.RawDescriptionHelpFormatter):
        return formatter_class
    return argparse.RawDescriptionHelpFormatter


# ---------------------------------------------------------------------------------------------------
# Checks of flags against each other and the files they name (before TensorFlow is imported).

def refuse_or_warn(message, strict: bool, remedy: str) -> None:
    """A doubtful setting (`message`, None when there is none): an error under ``--strict``, else a warning."""
    import logging

    if message and strict:
        raise ValueError(f"{message}; {remedy}, or leave out --strict to go on anyway.")
    if message:
        logging.warning("%s (--strict makes this an error)", message)


def check_vocabulary(config, source: str, spm_model_file: str, allow_mismatch: bool) -> None:
    """--albert_config_file's vocab_size against --spm_model_file's pieces (`AlbertConfig.check_vocabulary`)."""
    import logging

    from albert_tf.text.tokenizer import AlbertTokenizer

    note = config.check_vocabulary(AlbertTokenizer(spm_model_file).vocab_size, source, spm_model_file, allow_mismatch)
    if note:
        logging.warning("%s", note)
