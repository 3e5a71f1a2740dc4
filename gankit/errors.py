"""User-facing errors.

Every mistake a user can make (a bad config key, a missing file, a corrupt
dataset) raises a subclass of :class:`GankitError` whose message is one line
naming the problem and the fix. The CLI prints that line and exits with code 2;
anything else is a bug and keeps its traceback.
"""


class GankitError(Exception):
    """A user mistake: the message is one line that names the problem and the fix."""

    exit_code = 2


class ConfigError(GankitError):
    """A configuration key, value or file is wrong."""


class DataError(GankitError):
    """A dataset path, file or format is wrong."""


class RunError(GankitError):
    """A run folder or checkpoint is missing, corrupt or would be overwritten."""
