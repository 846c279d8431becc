"""Error types of the package: every user-facing failure is an `LSAError` with one clear message.

The CLI turns an `LSAError` into one line on stderr and exit status 2.
"""


class LSAError(Exception):
    """A problem with user input (file, config, CLI argument) that the user can fix."""


class InstanceFormatError(LSAError):
    """An instance file breaks the `lsa-network-v1` contract (docs/format.md)."""


class ConfigError(LSAError):
    """A configuration file or value is wrong."""


class MethodTooLarge(LSAError):
    """A method refuses an instance beyond its size limit (e.g. `exact` on large N)."""
