"""A real HTTP server on 127.0.0.1 that speaks enough of the OpenAI API to test the client.

The first path segment picks the behaviour: /ok, /fail500, /flaky (503 once, then ok),
/stall (answers after `stall_seconds`), /cut (streams two chunks then drops the connection).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, stall_seconds: float = 3.0):
        self.stall_seconds = stall_seconds
        self.requests: list[tuple[str, dict]] = []
        self.flaky_failures = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._json(200, {"data": [{"id": "fake"}]})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                mode = self.path.strip("/").split("/")[0]
                server.requests.append((mode, body))
                if mode == "fail500":
                    return self._json(500, {"error": {"message": "boom", "type": "server_error"}})
                if mode == "flaky" and server.flaky_failures == 0:
                    server.flaky_failures += 1
                    return self._json(503, {"error": {"message": "busy"}})
                if mode == "badrequest":
                    return self._json(400, {"error": {"message": "bad model"}})
                if mode == "stall":
                    time.sleep(server.stall_seconds)
                words = ["Bon", "jour", ", je", " vous", " écoute."]
                chat = self.path.endswith("/chat/completions")
                if not body.get("stream"):
                    text = "".join(words)
                    choice = {"index": 0, "finish_reason": "stop"}
                    choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
                    return self._json(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
                                            "choices": [choice]})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i, word in enumerate(words):
                    if mode == "cut" and i == 2:
                        self.wfile.flush()
                        self.connection.shutdown(2)  # drop the connection mid-stream
                        return
                    last = i == len(words) - 1
                    choice = {"index": 0, "finish_reason": "stop" if last else None}
                    choice.update({"delta": {"content": word}} if chat else {"text": word})
                    obj = "chat.completion.chunk" if chat else "text_completion"
                    self._chunk(f"data: {json.dumps({'id': 'x', 'object': obj, 'created': 0, 'model': 'fake', 'choices': [choice]})}\n\n")
                self._chunk("data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")

            def _chunk(self, text: str):
                data = text.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _json(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # the /cut and /stall modes break connections on purpose

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
