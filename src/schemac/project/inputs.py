"""Reading what a repository holds, which is untrusted: bounded reads of regular files inside the project.

Every spec, manifest, migration, template override and settings file is read through
:func:`read_bytes`. It opens without blocking (a FIFO cannot hang the process), refuses anything
that is not a regular file (``/dev/zero`` behind a symlink cannot exhaust memory), reads at most
``limit + 1`` bytes whatever ``st_size`` says (``/proc`` files report 0), and, given the project
root, refuses a file whose real location is outside it (a symlink to ``/proc/self/environ`` cannot
print a CI secret).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from schemac.errors import SchemacError, fail

MAX_SPEC_BYTES = 5 * 1024 * 1024
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
MAX_MIGRATION_BYTES = 256 * 1024 * 1024
MAX_TEMPLATE_BYTES = 1024 * 1024
MAX_SETTINGS_BYTES = 1024 * 1024
MAX_DOCS_BYTES = 256 * 1024 * 1024

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _refuse(display: str, code: str, message: str, hint: str = "") -> SchemacError:
    return fail(display, 1, 1, code, message, hint)


def kind_of(mode: int) -> str:
    """What a file of this mode is, in words (``a FIFO``), for a refusal."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def real_path(fd: int, path: Path) -> Path:
    """Where the file open as ``fd`` really is (Linux names it; elsewhere the resolved ``path``)."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return Path(os.path.realpath(path))


def is_within(path: Path, root: Path) -> bool:
    """Whether ``path`` (already resolved) is ``root`` (resolved) or lies under it."""
    return path == root or root in path.parents


def outside_project(display: str, real: Path, root: Path) -> SchemacError:
    """SC118: a path of the project leads, through a symlink, to ``real`` outside ``root``."""
    del real, root  # the target is not shown: naming it could itself disclose what it points at
    return _refuse(
        display,
        "SC118",
        "path leads outside the project (a symlink to a file elsewhere); it is not read",
        "keep every spec, migration, manifest, template and setting inside the project directory",
    )


def read_bytes(
    path: Path, display: str, limit: int = MAX_SPEC_BYTES, *, root: Path | None = None, follow: bool = True
) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them, or a located refusal.

    SC100 when it cannot be opened or is a directory, SC117 for a FIFO, device or socket, SC101
    when it is larger than ``limit``, and (given ``root``, resolved) SC118 when the file really lies
    outside ``root``. With ``follow=False`` a symlink is not opened at all (SC100).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _refuse(display, "SC100", f"cannot read file: {exc.strerror}") from None
    try:
        status = os.fstat(fd)
        if stat.S_ISDIR(status.st_mode):
            raise _refuse(display, "SC100", "cannot read file: Is a directory")
        if not stat.S_ISREG(status.st_mode):
            raise _refuse(
                display,
                "SC117",
                f"cannot read file: it is {kind_of(status.st_mode)}, not a regular file",
                "replace it with a regular file",
            )
        if root is not None:
            real = real_path(fd, path)
            if not is_within(real, root):
                raise outside_project(display, real, root)
        if status.st_size > limit:
            raise _too_large(display, f"file is {status.st_size} bytes", limit)
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # the file grew, or reported no size (``/proc``)
            raise _too_large(display, "file is larger", limit)
        return b"".join(chunks)
    except OSError as exc:
        raise _refuse(display, "SC100", f"cannot read file: {exc.strerror}") from None
    finally:
        os.close(fd)


def _too_large(display: str, what: str, limit: int) -> SchemacError:
    return _refuse(
        display,
        "SC101",
        f"{what}, over the limit of {limit} bytes",
        "split the spec into several smaller specs" if limit == MAX_SPEC_BYTES else "",
    )


def position_of(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of character ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def decode(raw: bytes, display: str) -> str:
    """Decode UTF-8 strictly; refuse a byte-order mark and name the first undecodable byte."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raise fail(
            display, 1, 1, "SC103", "file starts with a UTF-8 byte-order mark", "save the file as UTF-8 without a BOM"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = raw[: exc.start].decode("utf-8")
        line, column = position_of(good, len(good))
        raise fail(
            display,
            line,
            column,
            "SC102",
            f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            "save the file as UTF-8",
        ) from None
