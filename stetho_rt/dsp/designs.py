"""On-disk cache of filter designs, so a warm start imports neither scipy.signal nor librosa.

Designing the filters (``scipy.signal.butter``/``ellip``/``firwin``..., ``librosa.filters.mel``)
takes little time, but importing those modules costs about a second (``scipy.signal`` pulls in
``scipy.stats``). The stages therefore get their coefficients through :func:`cached_design`, the
analogue of numba's ``cache=True`` for compiled kernels:

- a design is a ``dict[str, numpy.ndarray]`` computed by a function that imports scipy/librosa
  *inside* its body;
- it is stored as ``<name>-<hash>.npz`` in :func:`cache_dir` (``$STETHO_RT_CACHE_DIR``, else
  ``$XDG_CACHE_HOME/stetho-rt/designs``, else ``~/.cache/stetho-rt/designs``); the hash covers
  the design name, its parameters, the package version, :data:`DESIGN_VERSION` and a fingerprint of
  the installed numpy/scipy/librosa, and the full key is stored in the file and checked on load;
- files are written atomically (temporary file in the same folder, then :func:`os.replace`), so
  concurrent processes never read a partial file;
- every cache problem (missing or read-only folder, corrupted or foreign file) falls back to
  computing the design: the cache never raises. Errors of the design itself (e.g. invalid
  parameters) propagate as before;
- an in-process memo avoids reading the same file twice; callers always get fresh, writable copies.

``.npz`` stores arrays losslessly (dtype, shape, bits), so a design read from the cache is
bit-identical to the one computed. Bump :data:`DESIGN_VERSION` whenever a design function changes
its result for the same parameters.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from stetho_rt import __version__

__all__ = [
    "CACHE_ENV",
    "DESIGN_VERSION",
    "cache_dir",
    "cache_path",
    "cached_design",
    "clear_memo",
    "memoized_design",
]

DESIGN_VERSION = 1
"""Version of the design functions; part of every cache key (bump when a design changes)."""

CACHE_ENV = "STETHO_RT_CACHE_DIR"
"""Environment variable naming the design cache folder (overrides the XDG default)."""

_DEPENDENCIES = ("scipy", "librosa")
"""Packages the design functions call; their installed files are part of the cache key."""

_KEY_FIELD = "__key__"
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")

_log = logging.getLogger(__name__)
_memo: dict[str, dict[str, np.ndarray]] = {}
_fingerprint: str | None = None


def cache_dir() -> Path:
    """The folder holding the design files (read from the environment at every call).

    Returns
    -------
    pathlib.Path
        ``$STETHO_RT_CACHE_DIR`` if set and non-empty, else ``$XDG_CACHE_HOME/stetho-rt/designs``,
        else ``~/.cache/stetho-rt/designs``. It may not exist yet.
    """
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "stetho-rt" / "designs"


def _dependency_fingerprint() -> str:
    """numpy version plus path and stat of each dependency's ``__init__`` (found, not imported)."""
    global _fingerprint
    if _fingerprint is None:
        parts = [f"numpy={np.__version__}"]
        for dep in _DEPENDENCIES:
            try:
                spec = importlib.util.find_spec(dep)
                origin = spec.origin if spec is not None else None
                st = os.stat(origin) if origin else None
                parts.append(
                    f"{dep}={origin}:{st.st_mtime_ns}:{st.st_size}" if st else f"{dep}=missing"
                )
            except (ImportError, ValueError, OSError):
                parts.append(f"{dep}=missing")
        _fingerprint = ";".join(parts)
    return _fingerprint


def _key(name: str, params: tuple[object, ...]) -> str:
    return repr((name, params, __version__, DESIGN_VERSION, _dependency_fingerprint()))


def cache_path(name: str, params: tuple[object, ...]) -> Path:
    """File a design is stored in.

    Parameters
    ----------
    name : str
        Design name (letters, digits, ``_``, ``.``, ``-``).
    params : tuple
        Everything the design depends on, made of values with a stable ``repr`` (int, float,
        str, bool, None and tuples of them).

    Returns
    -------
    pathlib.Path
        ``cache_dir() / f"{name}-{hash}.npz"``.
    """
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"invalid design name {name!r}")
    digest = hashlib.sha256(_key(name, params).encode()).hexdigest()[:24]
    return cache_dir() / f"{name}-{digest}.npz"


def _load(path: Path, key: str) -> dict[str, np.ndarray] | None:
    """The arrays stored at ``path`` if it is a valid file for ``key``, else None."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
        stored = data.pop(_KEY_FIELD, None)
        if stored is None or stored.shape != () or str(stored) != key:
            _log.debug("design cache file %s belongs to another key; recomputing", path)
            return None
        return data
    except FileNotFoundError:
        return None
    except Exception as exc:  # any unreadable or corrupted file: recompute
        _log.debug("design cache file %s unreadable (%s); recomputing", path, exc)
        return None


def _store(path: Path, key: str, data: Mapping[str, np.ndarray]) -> None:
    """Write ``data`` to ``path`` atomically; ignore every failure."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_KEY_FIELD: np.array(key)}, **data)
        os.replace(tmp, path)
        tmp = None
    except Exception as exc:  # read-only, missing or full cache folder: just don't cache
        _log.debug("design cache %s not written (%s)", path, exc)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _copies(data: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in data.items()}


def cached_design(
    name: str, params: tuple[object, ...], compute: Callable[[], Mapping[str, object]]
) -> dict[str, np.ndarray]:
    """Return a design from the in-process memo, the on-disk cache, or ``compute()``.

    Parameters
    ----------
    name : str
        Design name, also the file name prefix (letters, digits, ``_``, ``.``, ``-``).
    params : tuple
        Every input of ``compute`` (values with a stable ``repr``: int, float, str, bool, None
        and tuples of them). Pass values exactly as ``compute`` uses them.
    compute : callable
        Computes the design from scratch: a mapping of names (not ``"__key__"``) to arrays or
        scalars (stored as numpy arrays). Heavy imports belong inside it.

    Returns
    -------
    dict of str to numpy.ndarray
        Fresh writable copies; 0-d arrays for scalars. A cached design is bit-identical to a
        computed one.

    Raises
    ------
    Exception
        Whatever ``compute`` raises. Cache problems never raise: the design is computed instead.
    """
    key = _key(name, params)
    hit = _memo.get(key)
    if hit is not None:  # before the path: resolving the cache folder costs 0.1 ms a design
        return _copies(hit)
    path = cache_path(name, params)
    data = _load(path, key)
    if data is None:
        computed = compute()
        data = {k: np.array(v) for k, v in computed.items()}  # own copies, 0-d for scalars
        if _KEY_FIELD in data:
            raise ValueError(f"a design may not contain a field named {_KEY_FIELD!r}")
        _store(path, key, data)
    _memo[key] = data
    return _copies(data)


def memoized_design(
    name: str, params: tuple[object, ...], compute: Callable[[], Mapping[str, object]]
) -> dict[str, np.ndarray]:
    """A design kept in the in-process memo only (no file): for tables that numpy computes in a
    fraction of a millisecond without heavy imports, but that every new stream would otherwise
    rebuild (batch analysis builds one graph per file). Same arguments and result as
    :func:`cached_design`: fresh writable copies."""
    key = _key(name, params)
    hit = _memo.get(key)
    if hit is None:
        hit = _memo[key] = {k: np.array(v) for k, v in compute().items()}
    return _copies(hit)


def clear_memo() -> None:
    """Forget the designs memoised in this process (the files stay)."""
    _memo.clear()
