"""The one error type the build reports to its user as a single line."""


class BuildError(Exception):
    """Bad input or a failed stage: the message is shown as-is, without a traceback."""
