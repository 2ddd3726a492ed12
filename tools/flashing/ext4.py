"""An ext4 file system in an image file, read and changed with debugfs: no mount, no root."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path, PurePosixPath


class Ext4:
    """The ext4 file system in the file `path`; changes are queued, then `commit()`ed at once."""

    def __init__(self, path: Path):
        self.path = path
        self._script: list[str] = []
        self._made: set[str] = set()
        self._files = tempfile.TemporaryDirectory(prefix="ext4-")   # what `write` copies in

    def read(self, name: str) -> bytes | None:
        """The file `name`'s bytes, or None when there is none."""
        if not self.exists(name):
            return None
        return subprocess.run(["debugfs", "-R", f"cat {_quoted(name)}", str(self.path)],
                              check=True, capture_output=True).stdout

    def exists(self, name: str) -> bool:
        out = subprocess.run(["debugfs", "-R", f"stat {_quoted(name)}", str(self.path)],
                             capture_output=True, text=True)
        return out.returncode == 0 and "not found" not in out.stderr

    def link_target(self, name: str) -> str | None:
        """Where the symbolic link `name` points, or None when it is no link."""
        out = subprocess.run(["debugfs", "-R", f"stat {_quoted(name)}", str(self.path)],
                             capture_output=True, text=True).stdout
        if "Type: symlink" not in out:
            return None
        return out.split('Fast link dest: "', 1)[-1].split('"', 1)[0] if "Fast link" in out \
            else self.read(name).decode()

    def mkdirs(self, name: str) -> None:
        """`name` and its parents, where missing (mode 755, root's)."""
        path = PurePosixPath(name)
        for folder in reversed([path, *path.parents]):
            text = str(folder)
            if text == "/" or text in self._made:
                continue
            self._made.add(text)
            if not self.exists(text):
                self._script.append(f"mkdir {_quoted(text)}")

    def write(self, name: str, data: bytes, mode: int = 0o644) -> None:
        """The file `name` (replaced if there is one), root's, with `mode`."""
        self.mkdirs(str(PurePosixPath(name).parent))
        local = Path(self._files.name) / str(len(self._script))
        local.write_bytes(data)
        self.copy(local, name, mode)

    def copy(self, local: Path, name: str, mode: int) -> None:
        self._script += [f"rm {_quoted(name)}", f"write {_quoted(str(local))} {_quoted(name)}",
                         f"sif {_quoted(name)} mode 0{0o100000 | mode:o}",
                         f"sif {_quoted(name)} uid 0", f"sif {_quoted(name)} gid 0"]

    def copy_tree(self, local: Path, name: str) -> None:
        """The folder `local`'s files and links under `name`, modes kept, owned by root."""
        for folder, dirs, files in os.walk(local):
            here = PurePosixPath(name) / Path(folder).relative_to(local).as_posix()
            self.mkdirs(str(here))
            for item in sorted(files) + [d for d in dirs if Path(folder, d).is_symlink()]:
                path = Path(folder, item)
                if path.is_symlink():
                    self.symlink(str(here / item), os.readlink(path))
                else:
                    self.copy(path, str(here / item), path.stat().st_mode & 0o7777)

    def symlink(self, name: str, target: str) -> None:
        self.mkdirs(str(PurePosixPath(name).parent))
        self._script += [f"rm {_quoted(name)}", f"symlink {_quoted(name)} {_quoted(target)}"]

    def remove(self, name: str) -> None:
        self._script.append(f"rm {_quoted(name)}")

    def commit(self) -> None:
        """Run the queued changes; the first that failed raises (a missing file to remove,
        before it is replaced, is no failure)."""
        script = Path(self._files.name) / "script"
        script.write_text("\n".join(self._script) + "\n")
        out = subprocess.run(["debugfs", "-w", "-f", str(script), str(self.path)],
                             capture_output=True, text=True)
        errors = [line for line in (out.stdout + out.stderr).splitlines()
                  if line and not line.startswith(("debugfs", "Allocated inode"))
                  and not (line.startswith("rm:") and "not found" in line)]
        self._script.clear()
        if out.returncode or errors:
            raise OSError(f"debugfs on {self.path}: {'; '.join(errors[:3]) or out.returncode}")

    def close(self) -> None:
        self._files.cleanup()


def _quoted(name: str) -> str:
    if any(c in name for c in '"\n'):
        raise ValueError(f"a name debugfs cannot take: {name!r}")
    return f'"{name}"' if " " in name else name


def make_ext4(path: Path, size: int, label: str, content: Path | None = None) -> None:
    """A new ext4 file system in the new file `path`, holding the folder `content`."""
    command = ["mkfs.ext4", "-q", "-F", "-L", label, "-E", "root_owner=0:0"]
    if content is not None:
        command += ["-d", str(content)]
    subprocess.run(command + [str(path), f"{size // 1024}k"], check=True, capture_output=True)


def check_and_resize(path: Path, size: int) -> None:
    """fsck the ext4 file system in `path`, then grow (or shrink) it to `size` bytes."""
    fsck = subprocess.run(["e2fsck", "-f", "-y", str(path)], capture_output=True, text=True)
    if fsck.returncode > 1:   # 1: errors corrected
        raise OSError(f"e2fsck found errors it could not correct in {path}: "
                      f"{fsck.stdout.strip().splitlines()[-1:]}")
    if path.stat().st_size < size:
        os.truncate(path, size)
    subprocess.run(["resize2fs", str(path), f"{size // 1024}K"], check=True,
                   capture_output=True)
    if path.stat().st_size > size:
        os.truncate(path, size)
