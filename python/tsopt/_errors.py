"""The exceptions of the tsopt package: one class per kind of tsopt::Error.

Their message is the one line the tsopt driver prints after "tsopt: error: ",
and the kind is the one behind the driver's exit code (docs/cli.md).
"""


class Error(RuntimeError):
    """Any failure tsopt reports."""


class UsageError(Error, ValueError):
    """Bad pipeline text, unknown pass or option, a plugin that does not load."""


class InputError(Error, ValueError):
    """An input tsopt cannot use: a missing method, example inputs that do not fit."""


class PassFailure(Error):
    """A pass failed, or left an invalid graph."""


class OutputError(Error):
    """A result could not be written."""
