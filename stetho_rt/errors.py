"""One exception hierarchy for the package.

Every error a user can cause (bad file, bad argument, missing device, bad model) derives from
:class:`StethoError`; the CLI turns it into one line on stderr and exit code 2. Anything else is an
internal failure (exit code 1).
"""

from __future__ import annotations


class StethoError(Exception):
    """Base class of every error stetho-rt reports to a user."""


class ConfigError(StethoError, ValueError):
    """A parameter is out of range or inconsistent (the message echoes the bad value)."""


class InputError(StethoError):
    """An input file or signal cannot be used (missing, empty, truncated, not audio, NaN...)."""


class DeviceError(StethoError):
    """An audio device is missing, cannot open at the asked rate, or stopped delivering."""


class ModelError(StethoError):
    """A model (the classifier and its sidecar, or the detector's emission model) is missing,
    malformed or does not match what the pipeline feeds."""


class PipelineError(StethoError):
    """A pipeline thread failed; carries the thread's name and the original error text."""
