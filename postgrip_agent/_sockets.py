"""Waiting on one socket without ``select.select``, whose FD_SETSIZE cap (1,024) a busy
process passes: ``poll`` where the platform has it, else the platform's default selector."""

from __future__ import annotations

import select
import selectors
import socket

_EVENTS = (
    getattr(select, "POLLIN", 0) | getattr(select, "POLLPRI", 0) | getattr(select, "POLLHUP", 0) | getattr(select, "POLLERR", 0)
)


def readable(sock: socket.socket, timeout: float) -> bool:
    """True when ``sock`` has bytes to read or its peer closed, within ``timeout`` seconds
    (0 checks without waiting). Raises ``ValueError``/``OSError`` for a closed socket."""
    if sock.fileno() < 0:
        raise ValueError("socket is closed")
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, _EVENTS)
        return bool(poller.poll(max(0, int(timeout * 1000))))
    with selectors.DefaultSelector() as selector:  # pragma: no cover - platforms without poll (Windows)
        selector.register(sock, selectors.EVENT_READ)
        return bool(selector.select(timeout))
