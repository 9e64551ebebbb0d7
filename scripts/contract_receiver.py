"""The contract run's DSK receiver: verifies every real delivery's JWT with PyJWT.

Each POST is checked by the guide's own verifier (docs/examples/verify_event.py:
HS256 with the instance secret, iss = "metabridge", aud = the instance id, exp / iat / sub /
jti / body_sha256 required, sub = the event's id, body_sha256 = the SHA-256 of the bytes
received, the event's instance_id = this instance). A delivery that
verifies is answered 200, any other 401, and both are counted; `GET /_stats` returns the
counts (and why each refused delivery failed), which scripts/contract.sh checks at the end:
no refused delivery, at least one verified. One line per delivery goes to stdout (type, id,
verdict; never the content).

Usage: INSTANCE_ID=… INSTANCE_SECRET=… python contract_receiver.py PORT
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "examples"))
import jwt  # noqa: E402  PyJWT
from verify_event import verify_event  # noqa: E402

INSTANCE_ID = os.environ["INSTANCE_ID"]
INSTANCE_SECRET = os.environ["INSTANCE_SECRET"]

lock = threading.Lock()
stats = {"verified": 0, "event_ids": 0, "types": {}, "refused": []}
seen: set[str] = set()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            event = verify_event(self.headers.get("Authorization", ""), body, INSTANCE_ID, secret=INSTANCE_SECRET)
            verdict, status = "verified", 200
        except (jwt.PyJWTError, PermissionError, KeyError, ValueError) as e:
            event, verdict, status = None, f"refused: {type(e).__name__}: {e}", 401
        with lock:
            if event is not None:
                stats["verified"] += 1
                stats["types"][event.get("type")] = stats["types"].get(event.get("type"), 0) + 1
                if event["id"] not in seen:
                    seen.add(event["id"])
                    stats["event_ids"] += 1
            else:
                stats["refused"].append({"event_id": self.headers.get("X-Metabridge-Event-Id"), "why": verdict})
        print(f"receiver: {self.headers.get('X-Metabridge-Event-Type')} {self.headers.get('X-Metabridge-Event-Id')} -> {verdict}",
              flush=True)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        if self.path != "/_stats":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with lock:
            out = json.dumps(stats).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *_args) -> None:  # one line per delivery is printed above
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print(f"contract receiver on 127.0.0.1:{sys.argv[1]} for instance {INSTANCE_ID}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
