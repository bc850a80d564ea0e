"""The one error tree of watcher; the CLI maps each branch to an exit code.

WatcherError
 ├── ConfigError      the configuration file is wrong (exit 3)
 ├── StoreError       the database cannot be reached or is in a bad state (exit 4)
 │    └── LockedError another process holds what this one needs (exit 6)
 ├── ParseError       a fetched document does not parse (a probe outcome, never an exit)
 ├── UnknownKindError no `watcher/sources/<kind>.py` declares that kind (exit 2)
 └── DeliveryError    a channel refused or failed a notice (a delivery state, never an exit)
"""

from __future__ import annotations


class WatcherError(Exception):
    """Base of every error watcher raises on purpose."""

    exit_code = 1


class ConfigError(WatcherError):
    exit_code = 3

    def __init__(self, path: object, key: str | None, message: str) -> None:
        self.path = str(path)
        self.key = key
        self.message = message
        where = f"{self.path}: {key}: " if key else f"{self.path}: "
        super().__init__(where + message)


class StoreError(WatcherError):
    exit_code = 4

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        # The database could not be reached (or the connection broke), as opposed to refusing a statement.
        self.unreachable = unreachable


class LockedError(StoreError):
    exit_code = 6


class ParseError(WatcherError):
    """A document that truly does not parse. Recorded as `parse_error`, never as absence."""


class DeliveryError(WatcherError):
    """A channel failed to take a notice.

    `permanent` marks a refusal that retrying will not fix (a 4xx other than 429, an SMTP 5xx);
    `retry_after` carries the seconds a server asked us to wait, when it said.
    """

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class UnknownKindError(WatcherError):
    """A source kind no module declares (a config names it as ConfigError, the CLI as a usage error)."""

    exit_code = 2


class UnknownNameError(WatcherError, LookupError):
    """A name that nothing configured or declared carries (a source name asked of the configuration). A usage
    error, listing the known names; a LookupError too, as a dict's KeyError would have been."""

    exit_code = 2


class BacktestError(WatcherError):
    """The history cannot be walked: not a git repository, a path that never existed. A usage error."""

    exit_code = 2
