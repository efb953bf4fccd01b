"""Exceptions raised by the workbench.

Every error a user can trigger with bad input is one of these, and its message names the file, field or
value at fault. They subclass :class:`ValueError` so that callers catching the standard exception keep
working.
"""

from __future__ import annotations

__all__ = ["WorkbenchError", "DataFormatError", "ChecksumError", "ConfigError", "RunDirError"]


class WorkbenchError(Exception):
    """Base class of the workbench's own errors."""


class DataFormatError(WorkbenchError, ValueError):
    """A data file is missing, malformed or inconsistent with its siblings."""


class ChecksumError(DataFormatError):
    """A downloaded or mirrored file does not have the sha256 its registry entry states."""


class ConfigError(WorkbenchError, ValueError):
    """A configuration key, value or preset name is unknown or out of range."""


class RunDirError(WorkbenchError, ValueError):
    """A run directory is missing files, damaged, or outside the runs root."""
