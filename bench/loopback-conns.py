#!/usr/bin/env python3
"""Holds established loopback TCP connections for bench/agent-footprint.sh.

  loopback-conns.py serve PORT LIFETIME          accept on 127.0.0.1:PORT
  loopback-conns.py connect PORT COUNT LIFETIME  open COUNT connections, print "ready"

Several servers may share PORT (SO_REUSEPORT), so that no process needs
more descriptors than its limit. Clients close with SO_LINGER 0 (a reset)
so that no TIME_WAIT sockets outlive a run and skew the next. Every
process exits after LIFETIME seconds whatever happens.
"""
import resource
import selectors
import signal
import socket
import struct
import sys
import time


def raise_fd_limit():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve(port):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(4096)
    events = selectors.DefaultSelector()
    events.register(listener, selectors.EVENT_READ)
    while True:
        for key, _ in events.select():
            if key.fileobj is listener:
                conn, _ = listener.accept()
                events.register(conn, selectors.EVENT_READ)
            else:
                # The client went away (a reset): close our end too.
                events.unregister(key.fileobj)
                key.fileobj.close()


def connect(port, count):
    linger = struct.pack("ii", 1, 0)
    conns = []
    for _ in range(count):
        conn = socket.create_connection(("127.0.0.1", port))
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        conns.append(conn)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


def main():
    raise_fd_limit()
    mode, port = sys.argv[1], int(sys.argv[2])
    signal.alarm(int(sys.argv[-1]))
    if mode == "serve":
        serve(port)
    else:
        connect(port, int(sys.argv[3]))


if __name__ == "__main__":
    main()
