"""A real local HTTP receiver for webhook tests: records every JSON message it is sent and answers `status`."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# Chat webhooks carry their secret in the path (Slack, Discord, Teams) or in the query: the test URL has both.
PATH_TOKEN = "T0PSECRETPATHTOKEN"
QUERY_TOKEN = "s3cretQueryToken"


@dataclass
class Receiver:
    url: str
    received: list[dict] = field(default_factory=list)
    status: int = 200

    def events(self) -> list[tuple[str, str]]:
        return [(message["event"], message["source"]) for message in self.received]


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name
            length = int(self.headers["Content-Length"])
            receiver.received.append(json.loads(self.rfile.read(length)))
            self.send_response(receiver.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/{PATH_TOKEN}?token={QUERY_TOKEN}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
