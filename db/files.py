"""A person's output file (an export, a report, a run sheet, a codes file, a backup),
written in one place so that no one can redirect it or read it and nothing is overwritten
by surprise. Here, below the CLI and the domain, so that every writer — the commands and
`db.backup` — uses the same one."""

from __future__ import annotations

import contextlib
import os

from outreach.db.errors import BadInput, Refused, one_line
from outreach.i18n import _


def _cannot(path, reason: str) -> BadInput:
    return BadInput(_("cannot write {path}: {reason}; nothing was written").format(
        path=one_line(os.fspath(path)), reason=reason))


def check_target(path, *, force: bool = False) -> bool:
    """Whether ``path`` exists (a regular file of ours, and ``force``), or the refusal: a
    symbolic link (never followed), a folder, a FIFO, a device or a socket (said which),
    another user's file, an existing file without ``force``. Looks at the name itself
    (``lstat``), never where a link points."""
    import stat

    shown = one_line(os.fspath(path))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:  # a folder on the way we may not enter, a name too long
        raise _cannot(path, exc.strerror) from None
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        raise Refused(_("{path} is a symbolic link: outreach never writes through one; "
                        "nothing was written").format(path=shown))
    if not stat.S_ISREG(mode):
        what = (_("a folder") if stat.S_ISDIR(mode) else
                _("a named pipe (FIFO)") if stat.S_ISFIFO(mode) else
                _("a device") if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
                _("a socket") if stat.S_ISSOCK(mode) else _("not a regular file"))
        raise BadInput(_("{path} is {what}, not a file; nothing was written").format(
            path=shown, what=what))
    if st.st_uid != os.geteuid():
        raise Refused(_("{path} belongs to another user; nothing was written").format(
            path=shown))
    if not force:
        raise Refused(_("{path} already exists; nothing was written (add --force to "
                        "replace it)").format(path=shown))
    return True


class PrivateFile:
    """A person's output file (an export, a report, a run sheet, a codes file), written so
    that no one can redirect it or read it, and nothing is overwritten by surprise.

    Opening checks the target (`check_target`: a link, anything not a regular file,
    another user's file, an existing file without ``force`` are refused) and creates a new
    file beside it (0600 whatever the umask, ``O_EXCL|O_NOFOLLOW``). `commit` writes,
    syncs and only then puts it in place in one step: a new name is linked (it never
    replaces a file that appeared meanwhile), with ``force`` it is renamed over the old
    file. Leaving the ``with`` block without `commit` (a refusal, an error) removes it:
    nothing half-written is ever seen under the target's name. A writer that needs a path
    (SQLite's backup, ``pg_dump -f``) takes `handover`'s and calls `commit()` when it has
    closed the file."""

    def __init__(self, path, *, force: bool = False) -> None:
        import secrets

        self.path = os.fspath(path)
        self.force = force
        check_target(self.path, force=force)
        folder = os.path.dirname(self.path) or "."
        self.temp = os.path.join(folder, f".outreach-{secrets.token_hex(8)}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            self.fd: int | None = os.open(self.temp, flags, 0o600)
        except OSError as exc:  # a missing folder, no permission to write in it
            raise _cannot(self.path, exc.strerror) from None
        os.fchmod(self.fd, 0o600)  # the umask may only have taken bits away

    def __enter__(self) -> "PrivateFile":
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    def handover(self) -> str:
        """The new file's path, for a writer that opens it itself; this side's descriptor
        is closed first (closing a descriptor of a file drops every POSIX lock the process
        holds on it: SQLite's, were it open)."""
        if self.temp is None:
            raise RuntimeError("PrivateFile handed over after commit or discard")
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        return self.temp

    def discard(self) -> None:
        """Close and remove the new file (nothing was put in place); safe to call twice."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp)
            self.temp = None

    def commit(self, data: str | bytes | None = None) -> None:
        """Write ``data`` (text as UTF-8; None: written through `handover`'s path), sync,
        and put the file in place under the target's name."""
        if self.temp is None:
            raise RuntimeError("PrivateFile committed twice or after discard")
        try:
            try:
                if self.fd is None:  # handed over: the writer has closed it
                    self.fd = os.open(self.temp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                    os.fchmod(self.fd, 0o600)  # whatever the writer did
                if data is not None:
                    view = memoryview(data if isinstance(data, bytes)
                                      else data.encode("utf-8"))
                    while view:
                        view = view[os.write(self.fd, view):]
                os.fsync(self.fd)
            except OSError as exc:  # the disk is full
                raise _cannot(self.path, exc.strerror) from None
            os.close(self.fd)
            self.fd = None
            exists = check_target(self.path, force=self.force)  # again, just before
            try:
                if not exists:
                    try:  # a link never replaces: a file that appeared since is kept
                        os.link(self.temp, self.path, follow_symlinks=False)
                    except FileExistsError:
                        check_target(self.path, force=self.force)  # says what it is
                        raise
                    except OSError:  # a file system without hard links
                        os.replace(self.temp, self.path)
                else:
                    os.replace(self.temp, self.path)
            except OSError as exc:
                raise _cannot(self.path, exc.strerror) from None
        finally:
            self.discard()  # the new name's other link, or the file nothing took
        with contextlib.suppress(OSError):  # the rename itself survives a crash
            folder = os.open(os.path.dirname(self.path) or ".", os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)


def write_private(path, data: str | bytes, *, force: bool = False) -> None:
    """Write a person's output file in one go (`PrivateFile`): 0600, never through a link,
    an existing file replaced only with ``force``; text as UTF-8, bytes as they are."""
    with PrivateFile(path, force=force) as out:
        out.commit(data)
