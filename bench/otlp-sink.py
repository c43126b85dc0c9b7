#!/usr/bin/env python3
"""A stand-in OpenTelemetry collector for cost measurements: accepts OTLP/HTTP exports on
127.0.0.1:PORT (default 4318), answers 200 and discards them, and prints how many it took.

    python3 bench/otlp-sink.py [PORT]
"""
import http.server
import sys

class Sink(http.server.BaseHTTPRequestHandler):
    exports = 0
    bytes = 0

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        self.rfile.read(n)
        Sink.exports += 1
        Sink.bytes += n
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
        if Sink.exports % 50 == 1:
            print(f"{Sink.exports} exports, {Sink.bytes} bytes", flush=True)

    def log_message(self, *args):
        pass

port = int(sys.argv[1]) if len(sys.argv) > 1 else 4318
http.server.ThreadingHTTPServer(("127.0.0.1", port), Sink).serve_forever()
