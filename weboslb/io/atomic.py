"""Files replaced atomically: written beside the target, renamed over it when complete, so a
reader never sees half a file and a failed write leaves the old one in place."""
from __future__ import annotations

import os
from contextlib import suppress


def create_beside(path: str | os.PathLike) -> tuple[int, str]:
    """A new temporary file in ``path``'s directory, so that a rename replaces ``path``.

    Created with mode 0666 less the umask, as the target itself would be (mkstemp's 0600
    would survive the rename).
    """
    directory, name = os.path.split(os.path.abspath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = os.path.join(directory, f".{name}.{os.urandom(4).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def write_text(path: str | os.PathLike, text: str) -> None:
    fd, tmp = create_beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
