# SPDX-License-Identifier: LGPL-2.1-or-later
"""A FUSE filesystem that stops answering: the hostile filesystem a target's
owner can serve its executable and libraries from.

Root mounts it (the kernel's mount needs that), then the server drops to an
unprivileged User and answers the kernel itself, over /dev/fuse, with the
raw protocol (no libfuse): a flat directory of read-only copies of files.
After stall() it never answers again: every lookup, stat, open or read of a
page not in the page cache waits for good.  Everything is removed when the
test ends.
"""
import ctypes
import errno
import os
import signal
import stat
import struct

import hptest

IN_HDR = struct.Struct("<IIQQIIIHH")
OUT_HDR = struct.Struct("<IiQ")
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")

LOOKUP, FORGET, GETATTR, OPEN, READ, STATFS, RELEASE = 1, 2, 3, 14, 15, 17, 18
FLUSH, INIT, OPENDIR, READDIR, RELEASEDIR, ACCESS = 25, 26, 27, 28, 29, 34
INTERRUPT, DESTROY, BATCH_FORGET = 36, 38, 42
NO_REPLY = (FORGET, BATCH_FORGET, INTERRUPT)


class StallFS:
    def __init__(self, user, files):
        """files: name -> path of the file to serve under that name."""
        self.mnt = os.path.join(hptest.tmpdir(), "stallfs")
        os.mkdir(self.mnt)
        self.names = list(files)
        self.data = [open(files[n], "rb").read() for n in self.names]
        self.fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        libc = ctypes.CDLL(None, use_errno=True)
        opts = f"fd={self.fd},rootmode=40000,user_id={user.uid},group_id={user.gid}," \
               "allow_other".encode()
        if libc.mount(b"stallfs", self.mnt.encode(), b"fuse.stallfs", 0, opts) != 0:
            e = ctypes.get_errno()
            os.close(self.fd)
            raise hptest.Skip(f"cannot mount a FUSE filesystem here: {os.strerror(e)}")
        self.libc = libc
        ready_r, ready_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                os.close(ready_r)
                os.setgroups([])
                os.setgid(user.gid)
                os.setuid(user.uid)
                self._serve(ready_w)
            finally:
                os._exit(0)
        os.close(self.fd)
        os.close(ready_w)
        hptest.on_cleanup(self.close)
        # stall() signals the server: not before it can take the signal
        os.read(ready_r, 1)
        os.close(ready_r)

    def path(self, name):
        return os.path.join(self.mnt, name)

    def stall(self):
        os.kill(self.pid, signal.SIGUSR1)

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)  # aborts every waiting request
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        self.libc.umount2(self.mnt.encode(), 2)  # MNT_DETACH

    # ---- the server, as the user ----

    def _attr(self, node):
        if node == 1:
            return ATTR.pack(1, 0, 0, 0, 0, 0, 0, 0, 0, stat.S_IFDIR | 0o755, 2,
                             0, 0, 0, 4096, 0)
        size = len(self.data[node - 2])
        return ATTR.pack(node, size, (size + 511) // 512, 0, 0, 0, 0, 0, 0,
                         stat.S_IFREG | 0o755, 1, 0, 0, 0, 4096, 0)

    def _reply(self, unique, err=0, body=b""):
        os.write(self.fd, OUT_HDR.pack(OUT_HDR.size + len(body), -err, unique) + body)

    def _serve(self, ready):
        stalled = []
        signal.signal(signal.SIGUSR1, lambda *a: stalled.append(1))
        os.write(ready, b"r")
        os.close(ready)
        while True:
            try:
                req = os.read(self.fd, 1 << 20)
            except OSError as e:
                if e.errno in (errno.EINTR, errno.ENOENT):
                    continue
                return  # unmounted
            if stalled:
                while True:  # never answer again
                    signal.pause()
            n, op, unique, node = IN_HDR.unpack_from(req)[:4]
            body = req[IN_HDR.size:n]
            if op in NO_REPLY:
                continue
            try:
                self._answer(op, unique, node, body)
            except OSError:
                pass  # the caller went away (interrupted): nothing to answer

    def _answer(self, op, unique, node, body):
        if op == INIT:
            out = struct.pack("<IIIIHHIIHHII", 7, 31, 0, 0, 16, 12, 1 << 16, 1, 0, 0, 0, 0)
            self._reply(unique, 0, out + bytes(64 - len(out)))
        elif op == LOOKUP:
            name = body.split(b"\0", 1)[0].decode()
            if node != 1 or name not in self.names:
                self._reply(unique, errno.ENOENT)
                return
            child = self.names.index(name) + 2
            # nothing is cached: every lookup and stat asks us
            self._reply(unique, 0, struct.pack("<QQQQII", child, 0, 0, 0, 0, 0) +
                        self._attr(child))
        elif op == GETATTR:
            self._reply(unique, 0, struct.pack("<QII", 0, 0, 0) + self._attr(node))
        elif op in (OPEN, OPENDIR):
            self._reply(unique, 0, struct.pack("<QIi", 0, 0, 0))
        elif op == READ:
            _, off, size = struct.unpack_from("<QQI", body)
            self._reply(unique, 0, self.data[node - 2][off:off + size])
        elif op == READDIR:
            self._reply(unique, 0, b"")
        elif op == STATFS:
            self._reply(unique, 0, struct.pack("<QQQQQIIII", 0, 0, 0, 0, 0, 4096, 255, 4096, 0) +
                        bytes(24))
        elif op in (RELEASE, RELEASEDIR, FLUSH, ACCESS, DESTROY):
            self._reply(unique, 0)
        else:
            self._reply(unique, errno.ENOSYS)
