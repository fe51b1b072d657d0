"""Output folders that appear whole or not at all."""

import contextlib
import os
import shutil
import tempfile

__all__ = ["atomic_directory"]


@contextlib.contextmanager
def atomic_directory(dest):
    """Yield a new temporary folder beside ``dest``; when the block succeeds it replaces ``dest``,
    when it raises it is removed, so no half-written output is ever left at ``dest``."""
    dest = os.path.abspath(dest)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".pqaccel-", dir=os.path.dirname(dest))
    try:
        yield tmp
        if os.path.isdir(dest):
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
