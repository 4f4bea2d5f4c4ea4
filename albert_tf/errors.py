"""Errors the library raises about its user's input (flags, files, records), kept apart from bugs.

`UserInputError` subclasses `ValueError`, so code that catches `ValueError` keeps working, and the
console scripts' wrapper (`tools.flags.cli_entry_point`) prints it as one line without a traceback.

Example:

>>> try:
...     raise UserInputError("--max_seq_length 64: the records in a.tfrecord hold 128 tokens")
... except ValueError as error:
...     print(error)
--max_seq_length 64: the records in a.tfrecord hold 128 tokens
"""


class UserInputError(ValueError):
    """Bad input from the user: the message names the flag, the file or the record, and what was expected.

    Example:

    >>> isinstance(UserInputError("--train_batch_size must be positive"), ValueError)
    True
    """

