"""Builds and loads the fused CPU LSTM kernel (``csrc/lstm_fused.cpp``) at first use, once per machine.

Why a C++ extension: at small sizes each step of the pure PyTorch LSTM is ~7 dispatched ops whose overhead outweighs
their arithmetic; the kernel runs the whole time loop with one matmul and one fused pass of gate arithmetic per step.
It is compiled by ``torch.utils.cpp_extension`` (needs a C++ compiler and ``ninja``) into a cache directory keyed by
the source, the flags, torch and Python, so later processes only load it. Anything that stops the build makes
:func:`fused_lstm_ops` return None after a one-line warning, and callers use the pure PyTorch path.
``SEQLAB_NO_EXTENSIONS=1`` forces the pure path without building anything.
"""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import torch

NO_EXTENSIONS_ENV = "SEQLAB_NO_EXTENSIONS"
SOURCE = Path(__file__).resolve().parent / "csrc" / "lstm_fused.cpp"
LIBRARY = "seqlab_lstm"  # the TORCH_LIBRARY namespace in the source: torch.ops.seqlab_lstm.{forward,backward}
STALE_LOCK_S = 600  # a build lock older than this is left over from a killed build (a build takes under a minute)


def extensions_disabled() -> bool:
    """Whether ``SEQLAB_NO_EXTENSIONS`` asks for the pure PyTorch paths (set to anything but "", 0, false, no)."""
    return os.environ.get(NO_EXTENSIONS_ENV, "").strip().lower() not in ("", "0", "false", "no")


def fused_lstm_ops() -> Optional[Any]:
    """``torch.ops.seqlab_lstm`` with the fused forward and backward, or None: disabled by
    ``SEQLAB_NO_EXTENSIONS``, or the kernel could not be built here (warned once)."""
    if extensions_disabled():
        return None
    return _load()[0]


def unavailable_reason() -> str:
    """Why :func:`fused_lstm_ops` returns None, in one line; "" when it returns the kernel."""
    if extensions_disabled():
        return f"{NO_EXTENSIONS_ENV} is set"
    return _load()[1]


def cache_root() -> Path:
    """``$TORCH_EXTENSIONS_DIR``, else ``$XDG_CACHE_HOME/seqlab/extensions`` (``~/.cache`` by default)."""
    if os.environ.get("TORCH_EXTENSIONS_DIR"):
        return Path(os.environ["TORCH_EXTENSIONS_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seqlab" / "extensions"


def _compile_flags() -> list[str]:
    """-O3 and SIMD flags the CPU running this has (the build is per machine, so it may use them)."""
    flags = ["-O3", "-fopenmp-simd", "-fno-trapping-math"]  # no FP traps: lets the gate loops vectorize
    capability = torch.backends.cpu.get_cpu_capability()  # what PyTorch's own kernels use on this CPU
    if capability in ("AVX2", "AVX512"):
        flags += ["-mavx2", "-mfma"]
    if capability == "AVX512":
        flags += ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx512bw"]
    return flags


def _build_directory(flags: list[str]) -> Path:
    """One directory per source, flags, torch and Python version: a changed key builds afresh, an old one is kept."""
    key = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join(flags).encode(), torch.__version__.encode(),
                 sys.version.encode(), platform.machine().encode()):
        key.update(part)
        key.update(b"\0")
    return cache_root() / f"{LIBRARY}-{key.hexdigest()[:16]}"


_loaded: Optional[tuple[Optional[Any], str]] = None  # what _load found: (the ops or None, why not)


def _load() -> tuple[Optional[Any], str]:
    """(the ops, "") or (None, why not); built and loaded once per process, a failure warned about once."""
    global _loaded
    if _loaded is None:
        try:
            _build_and_load()
            _loaded = getattr(torch.ops, LIBRARY), ""
        except Exception as error:  # anything (no compiler, no ninja, a compile error) falls back to the pure path
            _loaded = None, _one_line(error)
            warnings.warn(f"seqlab: the fused LSTM kernel could not be built ({_loaded[1]}); using the slower pure "
                          f"PyTorch path", RuntimeWarning, stacklevel=3)
    return _loaded


def _one_line(error: Exception) -> str:
    """What went wrong in one line: the compiler's error when the build failed, else the error's first line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    telling = [line for line in lines[1:] if "error" in line.lower() or "not found" in line.lower()]
    return f"{type(error).__name__}: {(telling or lines or [''])[0][:200]}"


def _build_and_load() -> None:
    from torch.utils import cpp_extension  # imported lazily: it is slow to import and only needed here

    flags = _compile_flags()
    build_dir = _build_directory(flags)
    build_dir.mkdir(parents=True, exist_ok=True)
    lock = build_dir / "lock"  # cpp_extension's build baton: a build killed outright leaves it, and every later
    if lock.exists() and time.time() - lock.stat().st_mtime > STALE_LOCK_S:  # load would wait on it forever
        lock.unlink(missing_ok=True)
    path = os.environ.get("PATH", "")
    if shutil.which("ninja") is None:  # the ninja wheel installs next to this Python, which may not be on PATH
        os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), path])
    try:
        cpp_extension.load(name=LIBRARY, sources=[str(SOURCE)], extra_cflags=flags, build_directory=str(build_dir),
                           is_python_module=False, verbose=False)
    finally:
        os.environ["PATH"] = path
