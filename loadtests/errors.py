"""The two ways a load-test run ends early, each reported as one `error: ...` line."""


class InputError(Exception):
    """Bad input (arguments, build, targets): exit status 2."""


class RunError(Exception):
    """The run itself failed (Locust crashed or hung): exit status 1."""
