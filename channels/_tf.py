"""The one place where the channel layer imports TensorFlow (and Sionna), quietly.

Importing TensorFlow writes a dozen lines from C++ straight to file descriptor 2
(``Could not find cuda drivers``, ``Unable to register cuDNN factory``, ``computation
placer already registered``, CPU-feature notes), some of them before TensorFlow reads its
log level. :func:`import_tensorflow` therefore

1. sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless the user chose a level (:func:`quiet_tensorflow_logs`;
   child processes inherit it), which silences TensorFlow's later C++ logging (device
   creation, CUDA initialization at the first operation);
2. imports TensorFlow with descriptor 2 redirected to an anonymous temporary file and then
   writes back every captured line that is not such a log line
   (:func:`filtered_native_stderr`), so genuine errors still reach the terminal.

Nothing here runs at ``import channels``: the Sionna-backed models call
:func:`import_sionna` on their first draw.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

__all__ = [
    "NATIVE_LOG_LINE",
    "filtered_native_stderr",
    "import_sionna",
    "import_tensorflow",
    "quiet_tensorflow_logs",
]

#: Lines written by TensorFlow/XLA/absl native logging (glog-style prefixes) and their
#: known continuation lines. Before absl is initialized its seconds field holds the whole
#: epoch time (``E0000 00:00:1795939196.005020  13230 cuda_dnn.cc:8579] ...``).
NATIVE_LOG_LINE = re.compile(
    rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\]"  # TF C++ logging
    rb"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]"  # absl / glog
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions: .* rebuild TensorFlow"
    rb")"
)

_SIONNA_HINT = ("The Sionna-backed channel models need TensorFlow and sionna-no-rt "
                "(pip install 'sionna-no-rt>=1.2.2,<2' 'tensorflow>=2.14,<2.20').")


def quiet_tensorflow_logs() -> None:
    """Set ``TF_CPP_MIN_LOG_LEVEL=3`` unless the user already chose a level.

    Takes effect for a TensorFlow imported afterwards, in this process and in the child
    processes it starts (they inherit the environment).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextmanager
def filtered_native_stderr() -> Iterator[None]:
    """Run a block with descriptor 2 captured; replay all but native log lines afterwards.

    A no-op where the process has no usable descriptor 2.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    scratch = tempfile.TemporaryFile()
    os.dup2(scratch.fileno(), 2)
    try:
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)
        os.close(saved)
        scratch.seek(0)
        keep = [ln for ln in scratch.read().splitlines(keepends=True)
                if not NATIVE_LOG_LINE.match(ln)]
        scratch.close()
        if keep:
            os.write(2, b"".join(keep))


def _quiet_import(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    quiet_tensorflow_logs()
    try:
        with filtered_native_stderr():
            return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(f"{_SIONNA_HINT} Importing {name!r} failed: {err}") from err


def import_tensorflow() -> ModuleType:
    """Import and return ``tensorflow`` without its start-up logging on the terminal.

    Raises
    ------
    ImportError
        When TensorFlow is not installed; the message names the packages to install.
    """
    return _quiet_import("tensorflow")


def import_sionna() -> ModuleType:
    """Import and return ``sionna.phy`` (importing TensorFlow first, quietly).

    Raises
    ------
    ImportError
        When TensorFlow or Sionna is not installed; the message names the packages.
    """
    import_tensorflow()
    return _quiet_import("sionna.phy")
