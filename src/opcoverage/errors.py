"""Errors that cross stages: bad input from the user, reported as one line with exit code 2."""


class UsageError(Exception):
    """Bad input: a spec file, a filter, a target or a results file. The message says what, where and what to do."""


class CatalogError(UsageError):
    """A spec file that does not load or validate; the message names the file and the op."""
