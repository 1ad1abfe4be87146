"""A FUSE file system that mirrors one directory and can be made to hang, as a dead NFS or SMB mount does.

    hanging_fs.py BACKING MOUNTPOINT GATE

Every operation on MOUNTPOINT is served from BACKING, except while the file GATE exists: then every operation
(stat, open, read) blocks in the kernel until GATE is removed, which is what a process sees on a hard NFS
mount whose server has gone away. Runs in the foreground; unmount with `umount MOUNTPOINT` (or kill it).
"""

import errno
import os
import sys
import threading
import time

from fuse import FUSE, FuseOSError, Operations


class Hanging(Operations):
    def __init__(self, backing, gate):
        self.backing = backing
        self.gate = gate

    def _wait(self):
        while os.path.exists(self.gate):
            time.sleep(0.05)

    def _full(self, path):
        return os.path.join(self.backing, path.lstrip("/"))

    def getattr(self, path, fh=None):
        self._wait()
        try:
            st = os.lstat(self._full(path))
        except FileNotFoundError:
            raise FuseOSError(errno.ENOENT)
        keys = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size", "st_uid")
        return {k: getattr(st, k) for k in keys}

    def readdir(self, path, fh):
        self._wait()
        return [".", ".."] + os.listdir(self._full(path))

    def open(self, path, flags):
        self._wait()
        return os.open(self._full(path), flags)

    def read(self, path, size, offset, fh):
        self._wait()
        os.lseek(fh, offset, os.SEEK_SET)
        return os.read(fh, size)

    def release(self, path, fh):
        os.close(fh)
        return 0


def main():
    backing, mountpoint, gate = sys.argv[1:4]
    # direct_io: no page cache, so every read reaches this process (and can hang), as on a network mount.
    FUSE(Hanging(backing, gate), mountpoint, foreground=True, nothreads=False, direct_io=True,
         attr_timeout=0, entry_timeout=0, negative_timeout=0)


if __name__ == "__main__":
    main()
