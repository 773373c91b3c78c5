"""HTTP helpers shared by the cluster and high-availability tests."""
import http.client
import json
import socket


def free_port():
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, token=None, body=None, headers=None, timeout=10):
    """One HTTP request: (status, headers, parsed JSON or None), or (None, {}, None) with no answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    all_headers = {"Content-Type": "application/json"}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    all_headers.update(headers or {})
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        try:
            parsed = json.loads(data) if data else None
        except json.JSONDecodeError:
            parsed = None
        return response.status, {k.lower(): v for k, v in response.getheaders()}, parsed
    except (OSError, http.client.HTTPException):
        return None, {}, None
    finally:
        conn.close()
