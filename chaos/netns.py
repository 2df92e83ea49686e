"""The fault suite's network: namespaces joined by veth pairs, nftables
faults, a delaying TCP proxy, and the client that hammers the dispatcher,
each thread working inside a namespace."""

import ctypes
import http.client
import json
import os
import socket
import subprocess
import threading
import time

NODES = (1, 2, 3)


def sh(cmd, ns=None, check=True):
    full = (["ip", "netns", "exec", ns] if ns else []) + cmd
    return subprocess.run(full, check=check, capture_output=True, text=True)


libc = ctypes.CDLL("libc.so.6", use_errno=True)


def enter(ns):
    """Moves the calling thread into namespace `ns` (sockets made after it live there)."""
    fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        raise OSError(ctypes.get_errno(), f"setns {ns}")
    os.close(fd)


class Net:
    """The namespaces and veth pairs; removed on close."""

    def __init__(self):
        self.made = []

    def up(self):
        sh(["ip", "netns", "add", "spc-d"])
        self.made.append("spc-d")
        sh(["ip", "link", "set", "lo", "up"], ns="spc-d")
        for n in NODES:
            ns = f"spc-n{n}"
            sh(["ip", "netns", "add", ns])
            self.made.append(ns)
            sh(["ip", "link", "set", "lo", "up"], ns=ns)
            sh(["ip", "link", "add", f"spc-d{n}", "netns", "spc-d", "type", "veth", "peer", "name", "eth0", "netns", ns])
            sh(["ip", "addr", "add", f"10.77.{n}.1/24", "dev", f"spc-d{n}"], ns="spc-d")
            sh(["ip", "link", "set", f"spc-d{n}", "up"], ns="spc-d")
            sh(["ip", "addr", "add", f"10.77.{n}.2/24", "dev", "eth0"], ns=ns)
            sh(["ip", "link", "set", "eth0", "up"], ns=ns)
            sh(["nft", "add", "table", "inet", "chaos"], ns=ns)
            sh(["nft", "add", "chain", "inet", "chaos", "input", "{ type filter hook input priority 0 ; }"], ns=ns)

    def drop(self, n, percent=100, port=None):
        """Drops `percent` % of what reaches node n (100: a partition), or
        only what goes to TCP `port` there."""
        rule = (["iifname", "eth0"] + (["tcp", "dport", str(port)] if port else [])
                + (["numgen", "random", "mod", "100", "<", str(percent)] if percent < 100 else []) + ["drop"])
        sh(["nft", "add", "rule", "inet", "chaos", "input"] + rule, ns=f"spc-n{n}")

    def heal(self, n):
        sh(["nft", "flush", "chain", "inet", "chaos", "input"], ns=f"spc-n{n}")

    def close(self):
        for ns in reversed(self.made):
            sh(["ip", "netns", "delete", ns], check=False)


class Proxy(threading.Thread):
    """A TCP proxy in spc-d that holds every chunk `delay` seconds each way."""

    def __init__(self, target):
        super().__init__(daemon=True)
        self.target, self.delay = target, 0.0
        self.ready = threading.Event()

    def run(self):
        enter("spc-d")
        server = socket.create_server(("127.0.0.1", 0))
        self.port = server.getsockname()[1]
        self.ready.set()
        while True:
            conn, _ = server.accept()
            threading.Thread(target=self.pair, args=(conn,), daemon=True).start()

    def pair(self, conn):
        enter("spc-d")
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            conn.close()
            return
        for a, b in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    def pump(self, src, dst):
        try:
            while data := src.recv(65536):
                time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Client(threading.Thread):
    """Requests in a loop from spc-d, half on fresh connections; records
    (sent, received, status, location, retry_after) or the error."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.log, self.errors, self.stop = port, [], [], False

    def run(self):
        enter("spc-d")
        conn, i = None, 0
        while not self.stop:
            i += 1
            reused = not (conn is None or i % 2)
            if not reused:
                if conn:
                    conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            sent = time.monotonic()
            try:
                conn.request("GET" if i % 3 else "POST", f"/p/{i}?q=1", body=None if i % 3 else b"x")
                r = conn.getresponse()
                r.read()
                self.log.append((sent, time.monotonic(), r.status, r.getheader("Location"), r.getheader("Retry-After")))
            except (OSError, http.client.HTTPException) as e:
                kind = ("reused" if reused else "new") + (" GET" if i % 3 else " POST")
                self.errors.append((sent, f"{kind} connection: {e!r}"))
                conn = None
                time.sleep(0.01)




class Watcher(threading.Thread):
    """Samples the dispatcher's /dashboard from spc-d every 0.1 s:
    (sent, received, backends by id), the dispatcher's own view."""

    def __init__(self, port, token):
        super().__init__(daemon=True)
        self.port, self.token, self.samples, self.stop = port, token, [], False

    def run(self):
        enter("spc-d")
        while not self.stop:
            q0 = time.monotonic()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/dashboard", headers={"Authorization": f"Bearer {self.token}"})
                rows = {b["id"]: b for b in json.loads(conn.getresponse().read())["backends"]}
                conn.close()
                self.samples.append((q0, time.monotonic(), rows))
            except (OSError, http.client.HTTPException, ValueError):
                pass  # the dispatcher is gone (SIGTERM): nothing to sample
            time.sleep(0.1)


class InFlight(threading.Thread):
    """A request in flight at SIGTERM: connects; when `go` is set sends
    half its head (or, `silent`, nothing: a client that has just
    connected), and the rest when `finish` is; records the status line it
    got, or the error."""

    def __init__(self, port, go, finish, silent=False):
        super().__init__(daemon=True)
        self.port, self.go, self.finish, self.silent = port, go, finish, silent
        self.answer = None
        self.connected, self.sent = threading.Event(), threading.Event()

    def run(self):
        enter("spc-d")
        head = b"GET /in-flight HTTP/1.1\r\nHost: signpost\r\n"
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                self.connected.set()
                self.go.wait()
                if not self.silent:
                    s.sendall(head)
                self.sent.set()
                self.finish.wait()
                s.sendall((head if self.silent else b"") + b"Accept: */*\r\n\r\n")
                self.answer = s.recv(4096).split(b"\r\n")[0].decode() or "closed without an answer"
        except OSError as e:
            self.answer = f"error: {e!r}"
        self.connected.set()
        self.sent.set()
