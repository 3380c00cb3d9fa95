"""What the shipped nginx site does at the protocol level, on the deployment of conftest.py (no browser):

- an upload above client_max_body_size is refused by nginx before a byte of it is read (413), one just under it
  goes through to a replica;
- a request body never lands on the proxy's disk (proxy_request_buffering off): an 8 MB upload leaves nginx's
  client_body_temp folder empty and nothing "buffered to a temporary file" in its logs;
- the route cookie: a browser without one gets a new random one; one of ours is kept; anything else a client
  sends is replaced (it goes into the access log and the hash);
- the WebSocket upgrade passes through nginx for the dashboard's own host name, and a replica refuses it for any
  other (server.allowedHosts: a DNS-rebinding page cannot open a session).
"""

from __future__ import annotations

import base64
import os
import re
import socket
import ssl

import pytest
from deploy_harness import fetch

pytestmark = pytest.mark.e2e


def raw(deployed, head: str, body: bytes = b"", read: int = 4096) -> str:
    """One HTTP/1.1 request over TLS to nginx (written by hand: the status line and headers as sent), its status line
    and headers back."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", deployed.nginx.https_port), timeout=20) as tcp, \
            ctx.wrap_socket(tcp, server_hostname="127.0.0.1") as tls:
        tls.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        if body:
            tls.sendall(body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(read)
            if not chunk:
                break
            data += chunk
    return data.decode("latin-1")


def status(reply: str) -> int:
    return int(reply.split(" ", 2)[1])


def test_an_upload_above_the_proxy_limit_is_refused_before_it_is_read(deployed):
    over = 1100 * 1024 * 1024 + 1
    reply = raw(deployed, f"PUT /_stcore/upload_file/s/f HTTP/1.1\nHost: 127.0.0.1:{deployed.nginx.https_port}\n"
                          f"Content-Type: application/octet-stream\nContent-Length: {over}\nConnection: close\n")
    assert status(reply) == 413, reply
    under = raw(deployed, f"PUT /_stcore/upload_file/s/f HTTP/1.1\nHost: 127.0.0.1:{deployed.nginx.https_port}\n"
                          "Content-Type: application/octet-stream\nContent-Length: 1024\nConnection: close\n",
                body=b"x" * 1024)
    assert status(under) not in (413, 502), under  # reached a replica (which refuses it: no session, no XSRF token)


def test_a_request_body_never_touches_the_proxys_disk_and_a_refused_one_keeps_the_replica_in_rotation(deployed):
    """8 MB sent to replica A's upload address without a session: A refuses it (403: no session, no XSRF token) or,
    when it closes the connection before nginx has sent the body, nginx answers 502. Nothing of it was written under
    nginx's client_body_temp, and A stays in rotation: the next requests of a browser whose route hashes to A are
    answered by A (with nginx's default max_fails=1, a 502 of this kind took A out of rotation for 10 s)."""
    body_temp = deployed.nginx.folder / "tmp" / "body"
    route = deployed.route_to("A")
    size = 8 * 1024 * 1024
    reply = raw(deployed, f"PUT /_stcore/upload_file/s/f HTTP/1.1\nHost: 127.0.0.1:{deployed.nginx.https_port}\n"
                          f"Cookie: ww_route={route}\nContent-Type: application/octet-stream\n"
                          f"Content-Length: {size}\nConnection: close\n", body=os.urandom(size))
    assert status(reply) >= 400 and status(reply) != 413, reply  # the replica refused it (or reset: 502)
    assert deployed.nginx.upstream_of(route) == deployed.replicas["A"].port
    assert not body_temp.exists() or not any(p.is_file() for p in body_temp.rglob("*")), sorted(body_temp.rglob("*"))
    assert "buffered to a temporary file" not in deployed.nginx.log()
    for _ in range(3):
        assert fetch(f"{deployed.url}/_stcore/health", cookies={"ww_route": route}).status == 200
        assert deployed.nginx.upstream_of(route) == deployed.replicas["A"].port


@pytest.mark.parametrize("host, upgraded", [("127.0.0.1", True), ("rebinding.example", False)])
def test_the_websocket_passes_for_the_dashboards_host_only(deployed, host, upgraded):
    port = deployed.nginx.https_port
    key = base64.b64encode(os.urandom(16)).decode()
    reply = raw(deployed, f"GET /_stcore/stream HTTP/1.1\nHost: {host}:{port}\nUpgrade: websocket\n"
                          f"Connection: Upgrade\nSec-WebSocket-Key: {key}\nSec-WebSocket-Version: 13\n"
                          f"Sec-WebSocket-Protocol: streamlit\nOrigin: https://{host}:{port}\n")
    assert (status(reply) == 101) is upgraded, reply


def test_the_route_cookie_is_ours_or_replaced(deployed):
    def route(cookies):
        [header] = [h for h in fetch(f"{deployed.url}/_stcore/health", cookies=cookies).header("Set-Cookie")
                    if h.startswith("ww_route=")]
        assert header.endswith("; Path=/; Secure; HttpOnly; SameSite=Lax"), header
        return header.split(";")[0].removeprefix("ww_route=")

    fresh = route(None)
    assert re.fullmatch(r"[0-9a-f]{32}", fresh) and route(None) != fresh
    assert route({"ww_route": fresh}) == fresh
    for bad in ("x" * 65, "a0001%0d%0aX-Injected:1", "<script>", "a-b"):
        replaced = route({"ww_route": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced), (bad, replaced)
