"""A minimal Debug Adapter Protocol client: what VS Code does when it attaches to debugpy."""

from __future__ import annotations

import json
import socket
import time
from typing import Any


class DapClient:
    """Speaks DAP over a socket: requests in order, events collected as they come."""

    def __init__(self, host: str, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection((host, port), timeout=timeout)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.buffer = b""
        self.seq = 0
        self.events: list[dict[str, Any]] = []

    def send(self, command: str, **arguments: Any) -> int:
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command, "arguments": arguments}).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def _read(self) -> dict[str, Any]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        header, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in header.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        while len(rest) < length:
            self.buffer = header + b"\r\n\r\n" + rest
            self._fill()
            header, _, rest = self.buffer.partition(b"\r\n\r\n")
        self.buffer = rest[length:]
        return json.loads(rest[:length])

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("debugpy closed the connection")
        self.buffer += chunk

    def response(self, seq: int) -> dict[str, Any]:
        while True:
            message = self._read()
            if message.get("type") == "event":
                self.events.append(message)
            elif message.get("type") == "response" and message.get("request_seq") == seq:
                assert message.get("success"), message
                return message

    def event(self, name: str) -> dict[str, Any]:
        for index, message in enumerate(self.events):
            if message.get("event") == name:
                return self.events.pop(index)
        while True:
            message = self._read()
            if message.get("type") == "event" and message.get("event") == name:
                return message
            if message.get("type") == "event":
                self.events.append(message)

    def request(self, command: str, **arguments: Any) -> dict[str, Any]:
        return self.response(self.send(command, **arguments))

    def close(self) -> None:
        self.sock.close()
