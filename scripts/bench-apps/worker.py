#!/usr/bin/env python3
# A small Python worker of the kind farm-agent --app is put in front of,
# for scripts/bench-agent.sh: the standard library's threaded HTTP server
# (keep-alive, one thread per connection), answering GET /work with a
# small JSON document it builds per request.  Usage: worker.py PORT
#
#   GET /work?items=N   200, a JSON list of N (default 20) small records
#   GET /health         200 "ok"

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Worker(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive
    disable_nagle_algorithm = True     # head and body are two writes

    def do_GET(self):
        url = urlsplit(self.path)

        if url.path == "/health":
            self.answer(200, "text/plain", b"ok\n")
            return

        if url.path != "/work":
            self.answer(404, "text/plain", b"not found\n")
            return

        query = parse_qs(url.query)
        items = int(query.get("items", ["20"])[0])
        doc = {
            "worker": "python",
            "items": [{"n": i, "square": i * i, "name": "item-%d" % i}
                      for i in range(items)],
        }
        self.answer(200, "application/json",
                     json.dumps(doc).encode() + b"\n")

    def answer(self, code, ctype, body):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client that leaves mid-answer (wrk at the end of a run) is no
        # error worth a traceback
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


Server(("127.0.0.1", int(sys.argv[1])), Worker).serve_forever()
