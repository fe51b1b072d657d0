"""Output paths: checked before long work starts, written whole or not at all, and never a file
that pqaccel did not write deleted or overwritten."""

import contextlib
import os
import shutil
import tempfile

__all__ = [
    "OutputError",
    "atomic_directory",
    "check_no_clobber",
    "check_output_dir",
    "check_output_file",
    "staged_files",
    "previous_run",
    "write_text_atomic",
]


class OutputError(ValueError):
    """An output path that cannot be used (a user error: the message names the path and why)."""


def _nearest_existing(path):
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _check_creatable_in(folder, what, path):
    """Raise :class:`OutputError` unless a file can really be created in ``folder`` (a probe:
    permission bits say nothing for root, nor for /proc or a read-only mount)."""
    if not os.path.isdir(folder):
        raise OutputError(f"{what} {path!r} cannot be created: {folder!r} is a file, not a folder")
    try:
        probe = tempfile.mkdtemp(prefix=".pqaccel-probe-", dir=folder)
    except OSError as e:
        raise OutputError(
            f"{what} {path!r} cannot be written: no file can be created in {folder!r} "
            f"({e.strerror})"
        ) from None
    os.rmdir(probe)


def check_output_dir(path, what="--out"):
    """Check that ``path`` is, or can become, a folder pqaccel can write into.  Nothing is
    created.  Raises :class:`OutputError` naming ``what`` and the path."""
    if path is None or str(path).strip() == "":
        raise OutputError(f"{what} must name a folder, got {path!r}")
    path = str(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputError(f"{what} must be a folder, got the file {path!r}")
    _check_creatable_in(_nearest_existing(path), what, path)


def check_output_file(path, what="--json"):
    """Check that ``path`` can be written as a file (its folder may not exist yet).  Nothing is
    created.  Raises :class:`OutputError` naming ``what`` and the path."""
    if path is None or str(path).strip() == "":
        raise OutputError(f"{what} must name a file, got {path!r}")
    path = str(path)
    if os.path.isdir(path):
        raise OutputError(f"{what} must be a file, got the folder {path!r}")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise OutputError(f"{what} {path!r} cannot be written: permission denied")
    _check_creatable_in(_nearest_existing(os.path.dirname(os.path.abspath(path))), what, path)


def _make_dirs(path):
    """Create ``path`` and missing parents; return the folders created, outermost first."""
    created = []
    path = os.path.abspath(path)
    while not os.path.exists(path):
        created.append(path)
        path = os.path.dirname(path)
    for p in reversed(created):
        os.mkdir(p)
    return list(reversed(created))


def _remove_empty(folders):
    for p in reversed(folders):
        try:
            os.rmdir(p)
        except OSError:
            pass


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path, text, what="--json"):
    """Write ``text`` (``str``, or ``bytes``) to ``path`` through a temporary file beside it
    (missing folders are created and removed again on failure).  The file gets the mode a plain
    ``open`` would give it (the temporary file's private 0600 does not survive)."""
    check_output_file(path, what)
    created = _make_dirs(os.path.dirname(os.path.abspath(path)))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".pqaccel-", dir=os.path.dirname(os.path.abspath(path)))
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if tmp and os.path.exists(tmp):
            os.remove(tmp)
        _remove_empty(created)
        raise


def check_no_clobber(dest, names, replaceable=(), what="--out", other=""):
    """Raise :class:`OutputError` if writing ``names`` into ``dest`` would replace a file (or a
    folder) that is not in ``replaceable`` (the files an earlier pqaccel run wrote there);
    ``other`` names a further way out for the message (e.g. ``" or --name"``)."""
    for n in names:
        target = os.path.join(os.path.abspath(dest), n)
        if os.path.isdir(target):
            raise OutputError(f"{what}: {target!r} is a folder; pqaccel would write a file there")
        if os.path.lexists(target) and n not in replaceable:
            raise OutputError(
                f"{what}: {target!r} exists and was not written by pqaccel; "
                f"move it away or choose another folder{other}"
            )


@contextlib.contextmanager
def staged_files(dest, names, replaceable=(), what="--out"):
    """Yield a temporary folder inside ``dest`` in which the caller writes the files ``names``;
    when the block succeeds they are moved into ``dest`` (each by an atomic rename) and the
    temporary folder is removed.

    Only those files are touched: the other contents of ``dest`` stay as they are.  A file of
    the same name already in ``dest`` is replaced only when its name is in ``replaceable``
    (files an earlier pqaccel run wrote); otherwise :class:`OutputError` is raised before the
    block runs.  On any failure (Ctrl-C included) the temporary folder, and the folders this
    call created, are removed.
    """
    check_output_dir(dest, what)
    check_no_clobber(dest, names, replaceable, what)
    dest = os.path.abspath(dest)
    created = _make_dirs(dest)
    tmp = tempfile.mkdtemp(prefix=".pqaccel-", dir=dest)
    try:
        yield tmp
        written = sorted(os.listdir(tmp))
        extra = sorted(set(written) - set(names))
        if extra:
            raise RuntimeError(f"internal: files {extra} were written but not declared")
        for n in written:
            os.replace(os.path.join(tmp, n), os.path.join(dest, n))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(created)
        raise
    os.rmdir(tmp)


@contextlib.contextmanager
def atomic_directory(dest):
    """For pqaccel's own cache entries only (never a user's folder): yield a new temporary folder
    beside ``dest``; when the block succeeds it replaces ``dest``, when it raises it is removed."""
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


def previous_run(out_dir, index, names, keys):
    """``names`` if ``out_dir`` holds the JSON file ``index`` that an earlier pqaccel run wrote
    (a JSON object with every key of ``keys``), else an empty set: the files a rerun may replace."""
    import json

    try:
        with open(os.path.join(out_dir, index)) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return set()
    return set(names) if isinstance(doc, dict) and all(k in doc for k in keys) else set()
