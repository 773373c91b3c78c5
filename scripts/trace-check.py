#!/usr/bin/env python3
"""Checks that `lantern serve --otlp-endpoint` exports tracing spans over OTLP/HTTP.

Runs a small OTLP/HTTP collector (decoding with the OpenTelemetry protobuf definitions from
PyPI), starts the server pointed at it, claims a card and asks the assistant (on a stand-in model) for a drink, stops
the server with SIGTERM, and requires a server span per request, a ledger commit span carrying
its batch size, the journal load at start and the model call, all from service `lantern`.
"""
import argparse
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

spans = []


class Collector(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.endswith("/chat/completions"):
            # A stand-in OpenAI-compatible model, so the assistant's model call is traced too.
            answer = json.dumps({"choices": [{"message": {"role": "assistant", "content": "好的，马上为你点单。"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            service = next((a.value.string_value for a in resource.resource.attributes if a.key == "service.name"), None)
            for scope in resource.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: a.value for a in span.attributes}
                    spans.append((service, span.name, attributes, self.path))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, token, method="GET", body=None, headers=None):
    request = urllib.request.Request(url, method=method, data=body.encode() if body else None)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lantern", required=True)
    args = parser.parse_args()
    collector = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    work = tempfile.mkdtemp()
    port = free_port()
    env = dict(os.environ, LANTERN_JWT_SECRET="trace-check-secret-0123456789abcdef")
    server = subprocess.Popen(
        [args.lantern, "serve", "--database", f"sqlite:{work}/lantern.sqlite", "--port", str(port), "--log-level", "warning",
         "--otlp-endpoint", f"http://127.0.0.1:{collector.server_port}",
         "--llm-base-url", f"http://127.0.0.1:{collector.server_port}/model/v1"], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/readyz", timeout=1)
            break
        except Exception:
            if time.time() > deadline or server.poll() is not None:
                sys.exit("FAIL: the server did not become ready")
            time.sleep(0.1)
    token = subprocess.run([args.lantern, "token", "--user", "tracer"], env=env, capture_output=True, text=True, check=True).stdout.strip()
    status, _ = call(base + "/v1/campaigns/spring-festival/claims", token, "POST", "{}", {"Idempotency-Key": "trace-1"})
    assert status == 201, status
    status, turn = call(base + "/v1/assistant/messages", token, "POST", json.dumps({"text": "帮我点一杯珍珠奶茶"}))
    assert status == 200 and turn["engine"] == "llm", (status, turn)
    server.send_signal(signal.SIGTERM)
    if server.wait(timeout=30) != 0:
        sys.exit(f"FAIL: the server exited with {server.returncode}")
    names = sorted({name for _, name, _, _ in spans})
    print("spans received:", names)
    services = {service for service, _, _, _ in spans}
    if services != {"lantern"}:
        sys.exit(f"FAIL: spans from services {services}, expected only 'lantern'")
    if any(path != "/v1/traces" for _, _, _, path in spans):
        sys.exit("FAIL: spans were posted somewhere other than /v1/traces")
    for wanted in ("/v1/campaigns/{id}/claims", "/v1/assistant/messages", "ledger.commit", "store.load_book",
                   "llm.chat_completion"):
        if not any(wanted in name for name in names):
            sys.exit(f"FAIL: no span named like '{wanted}'")
    commits = [attributes for _, name, attributes, _ in spans if name == "ledger.commit"]
    if not any(a.get("lantern.batch.operations") and a["lantern.batch.operations"].int_value >= 1 for a in commits):
        sys.exit("FAIL: no ledger.commit span carries lantern.batch.operations >= 1")
    print(f"trace check passed: {len(spans)} spans")


if __name__ == "__main__":
    main()
