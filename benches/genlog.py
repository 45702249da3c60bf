#!/usr/bin/env python3
"""Generate realistic proxy access logs, byte-identical for the same arguments and seed.

Usage:
    python3 benches/genlog.py --format envoy|envoy-json|nginx --lines N [--seed S]

Formats:
- envoy: Envoy's default access-log format (see rules/envoy.toml).
- envoy-json: the same fields written by an Envoy `json_format` dictionary, with keys
  in the order of JSON_KEYS. Every value is a string and an unset value is "-", as
  Envoy documents for `json_format` (`typed_json_format` would write numbers).
- nginx: nginx's predefined `combined` format, with nginx's `\\xHH` escaping.

The traffic is a fixed mix over a few authorities. GET dominates, responses are mostly
2xx with some 3xx, 4xx and 5xx, and a few clients leave before the response (code 0 in
Envoy, 499 in nginx). Durations are log-normal-like whole milliseconds with a heavy
tail, the upstream service time is sometimes `-`, and paths carry ids. The nginx output
also has a few malformed requests (`"-"`, and TLS handshakes sent to a plain-HTTP port)
that nginx logs with status 400.

Determinism: all randomness comes from the SplitMix64 generator below, with explicit
64-bit masking, and only integer arithmetic decides what is written. The output does
not depend on Python's `random` module, on floating point or on the locale.
"""

import argparse
import datetime
import json
import os
import string
import sys
from typing import NamedTuple

MASK64 = (1 << 64) - 1

# 2024-10-10T13:55:30.000Z in milliseconds since the Unix epoch.
START_EPOCH_MS = 1_728_568_530_000

MONTHS = tuple("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())

JSON_KEYS = (
    "start_time",
    "method",
    "path",
    "protocol",
    "response_code",
    "response_flags",
    "bytes_received",
    "bytes_sent",
    "duration",
    "upstream_service_time",
    "x_forwarded_for",
    "user_agent",
    "request_id",
    "authority",
    "upstream_host",
)


class SplitMix64:
    """SplitMix64 pseudorandom generator with a 64-bit state.

    The step and the constants are those of Sebastiano Vigna's public-domain
    splitmix64.c, which implements the generator of Steele, Lea and Flood (2014).
    """

    def __init__(self, seed):
        self.state = seed & MASK64

    def next64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        """Return an integer in [0, n) for n < 2**32 (bias below n / 2**32)."""
        return ((self.next64() >> 32) * n) >> 32

    def pick(self, table):
        return table[self.below(len(table))]


def weighted(pairs):
    """Expand (item, weight) pairs into a table where each item appears weight times."""
    table = []
    for item, weight in pairs:
        table.extend([item] * weight)
    return tuple(table)


def log_normal_ms(rng, median_octave):
    """Draw whole milliseconds whose log2 is roughly normal around median_octave.

    The octave is median_octave plus a binomial(8, 1/2) offset minus 4, so about 70% of
    draws fall within one octave of 2**median_octave ms. One draw in 64 gets four extra
    octaves as a slow tail. Within the octave the value is uniform. Octaves below zero
    give 0 ms.
    """
    bits = rng.next64()
    octave = median_octave + bin(bits & 0xFF).count("1") - 4
    if (bits >> 8) & 0x3F == 0:
        octave += 4
    if octave < 0:
        return 0
    return (1 << octave) + ((bits >> 16) & ((1 << octave) - 1))


# Values for the {fields} in route paths.
CATEGORIES = ("garden", "tools", "kitchen", "books", "toys", "outdoor")
IMAGES = ("hero", "banner-autumn", "team", "product-1138", "product-2201", "map")
SLUGS = ("grafana-tips", "release-notes-3-2", "tracing-basics", "on-call-handbook")
QUERIES = ("shoes", "garden+hose", "%E3%82%AB%E3%83%AC%E3%83%BC", "caf%C3%A9", "usb-c")
PATH_FIELDS = {
    "user": lambda rng: str(1000 + rng.below(90000)),
    "page": lambda rng: str(1 + rng.below(5)),
    "product": lambda rng: str(100 + rng.below(9900)),
    "category": lambda rng: rng.pick(CATEGORIES),
    "cart": lambda rng: str(10000 + rng.below(90000)),
    "item": lambda rng: str(1 + rng.below(9)),
    "build": lambda rng: f"{rng.below(1 << 24):06x}",
    "image": lambda rng: rng.pick(IMAGES),
    "month": lambda rng: f"{1 + rng.below(10):02d}",
    "slug": lambda rng: rng.pick(SLUGS),
    "query": lambda rng: rng.pick(QUERIES),
}


class Route(NamedTuple):
    method: str
    # Literal text and PATH_FIELDS names, alternating. "/users/{user}/orders" is
    # ("/users/", "user", "/orders", None).
    path_parts: tuple
    success_code: int
    request_bytes: tuple  # (min, max) body size
    response_bytes: tuple  # (min, max) body size


def parse_size_range(text):
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def parse_routes(table):
    """Parse a route table into a weighted table of Route.

    The columns are weight, method, path, success code, request body bytes and response
    body bytes. Sizes are a number or a min-max range.
    """
    pairs = []
    for line in table.strip().splitlines()[1:]:
        weight, method, path, code, request_bytes, response_bytes = line.split()
        parts = []
        for literal, field, _, _ in string.Formatter().parse(path):
            if field is not None and field not in PATH_FIELDS:
                raise ValueError(f"unknown path field {{{field}}} in route {path}")
            parts += [literal, field]
        route = Route(
            method,
            tuple(parts),
            int(code),
            parse_size_range(request_bytes),
            parse_size_range(response_bytes),
        )
        pairs.append((route, int(weight)))
    return weighted(pairs)


def render_path(rng, route):
    parts = route.path_parts
    pieces = []
    for index in range(0, len(parts), 2):
        pieces.append(parts[index])
        if parts[index + 1] is not None:
            pieces.append(PATH_FIELDS[parts[index + 1]](rng))
    return "".join(pieces)


API_ROUTES = parse_routes("""
    weight  method   path                                     code  request   response
    30      GET      /api/v1/users/{user}                     200   0         1200-1800
    15      GET      /api/v1/users/{user}/orders?page={page}  200   0         2000-9000
    12      GET      /api/v1/products?category={category}     200   0         8000-30000
    12      GET      /api/v1/products/{product}               200   0         2500-4000
    8       POST     /api/v1/orders                           201   200-2000  60-140
    6       POST     /api/v1/events                           202   100-4000  0
    4       PUT      /api/v1/users/{user}                     200   100-900   1200-1800
    3       PATCH    /api/v1/users/{user}                     200   40-200    1200-1800
    4       DELETE   /api/v1/carts/{cart}/items/{item}        204   0         0
    2       OPTIONS  /api/v1/users/{user}                     204   0         0
""")
WWW_ROUTES = parse_routes("""
    weight  method  path                        code  request  response
    10      GET     /                           200   0        5800-6400
    15      GET     /static/app.{build}.js      200   0        40000-60000
    15      GET     /static/img/{image}.webp    200   0        20000-300000
    12      GET     /blog/2024/{month}/{slug}/  200   0        12000-25000
    6       GET     /search?q={query}           200   0        6000-12000
    3       HEAD    /static/logo.svg            200   0        0
    4       GET     /favicon.ico                200   0        1150
""")
GRPC_ROUTES = parse_routes("""
    weight  method  path                              code  request  response
    10      POST    /checkout.v1.Checkout/GetCart     200   12-40    200-2000
    4       POST    /checkout.v1.Checkout/PlaceOrder  200   200-600  40-90
    4       POST    /inventory.v1.Inventory/Reserve   200   30-120   10-30
""")
AUTH_ROUTES = parse_routes("""
    weight  method  path                                   code  request  response
    10      POST    /oauth/token                           200   120-200  900-1100
    3       GET     /.well-known/openid-configuration      200   0        1421
    3       GET     /authorize?client_id=web&scope=openid  200   0        5000-5600
    2       POST    /login                                 302   40-90    0
""")
HEALTH_ROUTES = parse_routes("""
    weight  method  path      code  request  response
    1       GET     /healthz  200   0        2
""")


class Service(NamedTuple):
    authority: str
    routes: tuple
    upstream_hosts: tuple
    median_octave: int  # durations center on 2**median_octave ms
    protocols: tuple


SERVICES = weighted(
    [
        (
            Service(
                "api.example.com",
                API_ROUTES,
                (
                    "10.0.1.11:8080",
                    "10.0.1.12:8080",
                    "10.0.1.13:8080",
                    "10.0.1.14:8080",
                ),
                median_octave=4,
                protocols=weighted([("HTTP/2", 6), ("HTTP/1.1", 4)]),
            ),
            50,
        ),
        (
            Service(
                "www.example.com",
                WWW_ROUTES,
                ("10.0.2.21:80", "10.0.2.22:80"),
                median_octave=2,
                protocols=weighted([("HTTP/2", 6), ("HTTP/1.1", 3), ("HTTP/3", 1)]),
            ),
            25,
        ),
        (
            Service(
                "grpc.example.com",
                GRPC_ROUTES,
                ("[fd00:10::15]:50051", "[fd00:10::16]:50051", "10.0.3.31:50051"),
                median_octave=3,
                protocols=("HTTP/2",),
            ),
            12,
        ),
        (
            Service(
                "auth.example.com:8443",
                AUTH_ROUTES,
                ("[::1]:8080",),
                median_octave=4,
                protocols=("HTTP/1.1",),
            ),
            8,
        ),
        # Load-balancer health checks without a Host header: Envoy logs authority "-".
        (
            Service(
                "-",
                HEALTH_ROUTES,
                ("10.0.1.11:8080", "10.0.1.12:8080"),
                median_octave=0,
                protocols=("HTTP/1.0",),
            ),
            5,
        ),
    ]
)

BROWSERS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36",
)
# Envoy writes a quote inside a header as it is; nginx writes it as \x22.
QUOTED_AGENT = 'Mozilla/5.0 (Linux; Android 13; Tab 10" Build/TQ3A.230901.001)'
USER_AGENTS = weighted(
    [
        (BROWSERS[0], 20),
        (BROWSERS[1], 10),
        (BROWSERS[2], 12),
        (BROWSERS[3], 10),
        ("curl/8.5.0", 12),
        ("okhttp/4.12.0", 10),
        ("Go-http-client/1.1", 8),
        ("python-requests/2.31.0", 8),
        (None, 2),
        (QUOTED_AGENT, 1),
    ]
)

# Outcomes per 1000 requests. "ok" uses the route's success code.
OUTCOMES = weighted(
    [
        ("ok", 895),
        (304, 25),
        (301, 5),
        (302, 5),
        (400, 5),
        (401, 8),
        (403, 4),
        (404, 25),
        (429, 5),
        (500, 8),
        (502, 3),
        (503, 6),
        (504, 3),
        (0, 3),
    ]
)

# Envoy's default route timeout, 15 s (as Envoy Gateway's HTTP timeouts guide states).
# Requests that hit it end with 504 UT.
ROUTE_TIMEOUT_MS = 15000


class Request:
    """One generated request with the fields of Envoy's default format.

    None stands for a value that Envoy writes as `-`.
    """

    __slots__ = (
        "epoch_ms",
        "method",
        "path",
        "protocol",
        "code",
        "flags",
        "bytes_received",
        "bytes_sent",
        "duration_ms",
        "upstream_ms",
        "client_ip",
        "forwarded_for",
        "user_agent",
        "request_id",
        "authority",
        "upstream_host",
    )


def make_client_ips(rng):
    """Return 300 client addresses in the documentation ranges of RFC 5737 and 3849."""
    prefixes = ("203.0.113.", "198.51.100.", "192.0.2.")
    addresses = [f"{prefixes[rng.below(3)]}{1 + rng.below(254)}" for _ in range(280)]
    for _ in range(20):
        addresses.append(f"2001:db8:{rng.below(0x10000):x}::{1 + rng.below(0xFFFF):x}")
    return tuple(addresses)


def uniform_in(rng, bounds):
    low, high = bounds
    return low if low == high else low + rng.below(high - low + 1)


def apply_outcome(rng, request, route, outcome):
    """Set the code, flags, sizes and upstream fields the way Envoy reports outcome."""
    request.flags = None
    if outcome == "ok" or (outcome == 304 and request.method != "GET"):
        request.code = route.success_code
        if request.method == "HEAD":
            request.bytes_sent = 0
        else:
            request.bytes_sent = uniform_in(rng, route.response_bytes)
        # Direct and cached responses carry no x-envoy-upstream-service-time header.
        if rng.below(100) == 0:
            request.upstream_ms = None
        return

    request.code = outcome
    choice = rng.below(10)
    if outcome == 0:
        request.flags = "DC"
        request.bytes_sent = 0
        request.upstream_ms = None
    elif outcome in (301, 302, 304):
        request.bytes_sent = 0
    elif outcome == 404 and choice < 3:
        request.flags = "NR"
        request.bytes_sent = 0
        request.duration_ms = 0
        request.upstream_ms = None
        request.upstream_host = None
    elif outcome == 429 and choice < 5:
        request.flags = "RL"
        request.bytes_sent = 18
        request.duration_ms = rng.below(2)
        request.upstream_ms = None
        request.upstream_host = None
    elif outcome == 503 and choice < 6:
        request.flags = ("UF,URX", "UH", "UO")[choice % 3]
        request.bytes_sent = (91, 19, 81)[choice % 3]
        request.upstream_ms = None
        if request.flags != "UF,URX":
            request.duration_ms = rng.below(2)
            request.upstream_host = None
    elif outcome == 504:
        request.flags = "UT"
        request.bytes_sent = 24
        request.duration_ms = ROUTE_TIMEOUT_MS + rng.below(5)
        request.upstream_ms = None
    else:
        request.bytes_sent = 20 + rng.below(120)


def generate_request(rng, client_ips, epoch_ms):
    service = rng.pick(SERVICES)
    route = rng.pick(service.routes)

    request = Request()
    request.epoch_ms = epoch_ms
    request.method = route.method
    request.path = render_path(rng, route)
    request.protocol = rng.pick(service.protocols)
    request.authority = service.authority
    request.upstream_host = rng.pick(service.upstream_hosts)
    request.bytes_received = uniform_in(rng, route.request_bytes)
    request.duration_ms = log_normal_ms(rng, service.median_octave)
    # The upstream time leaves out Envoy's own share, up to a tenth of the total.
    request.upstream_ms = request.duration_ms - rng.below(request.duration_ms // 10 + 1)

    request.client_ip = rng.pick(client_ips)
    forwarded = rng.below(10)
    if service.authority == "-" or forwarded == 0:
        request.forwarded_for = None
    elif forwarded < 3:
        request.forwarded_for = f"{request.client_ip}, 10.0.0.2"
    else:
        request.forwarded_for = request.client_ip

    if service.authority == "grpc.example.com":
        request.user_agent = "grpc-go/1.60.1"
    elif service.authority == "-":
        request.user_agent = None
    else:
        request.user_agent = rng.pick(USER_AGENTS)

    # A version 4 UUID, as Envoy generates for x-request-id.
    high, low = rng.next64(), rng.next64()
    request.request_id = (
        f"{high >> 32:08x}-{(high >> 16) & 0xFFFF:04x}-4{high & 0xFFF:03x}-"
        f"{0x8000 | ((low >> 48) & 0x3FFF):04x}-{low & 0xFFFFFFFFFFFF:012x}"
    )
    apply_outcome(rng, request, route, rng.pick(OUTCOMES))
    return request


def dash(value):
    return "-" if value is None else str(value)


class Clock:
    """Formats epoch milliseconds, computing the date and time text once per second."""

    def __init__(self):
        self.second = None
        self.iso = ""
        self.nginx = ""

    def set(self, epoch_ms):
        second = epoch_ms // 1000
        if second == self.second:
            return
        moment = datetime.datetime.fromtimestamp(second, datetime.timezone.utc)
        year, month, day = moment.year, moment.month, moment.day
        time = f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        self.second = second
        self.iso = f"{year:04d}-{month:02d}-{day:02d}T{time}"
        self.nginx = f"{day:02d}/{MONTHS[month - 1]}/{year:04d}:{time} +0000"

    def envoy_start_time(self, epoch_ms):
        self.set(epoch_ms)
        return f"{self.iso}.{epoch_ms % 1000:03d}Z"

    def nginx_time_local(self, epoch_ms):
        self.set(epoch_ms)
        return self.nginx


def envoy_fields(request, clock):
    """Return the Envoy field values in JSON_KEYS order, with "-" for unset values."""
    return (
        clock.envoy_start_time(request.epoch_ms),
        request.method,
        request.path,
        request.protocol,
        str(request.code),
        dash(request.flags),
        dash(request.bytes_received),
        dash(request.bytes_sent),
        dash(request.duration_ms),
        dash(request.upstream_ms),
        dash(request.forwarded_for),
        dash(request.user_agent),
        request.request_id,
        request.authority,
        dash(request.upstream_host),
    )


def format_envoy(request, clock, rng):
    fields = envoy_fields(request, clock)
    request_line = " ".join(fields[1:4])
    numbers = " ".join(fields[4:10])
    quoted = '" "'.join(fields[10:])
    return f'[{fields[0]}] "{request_line}" {numbers} "{quoted}"'


def format_envoy_json(request, clock, rng):
    fields = dict(zip(JSON_KEYS, envoy_fields(request, clock)))
    return json.dumps(fields, separators=(",", ":"))


def nginx_escape(text):
    """Escape text as nginx's default log escaping does (see nginx_escape_bytes)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return nginx_escape_bytes(text.encode("utf-8"))


def nginx_escape_bytes(data):
    """Escape `"`, `\\`, bytes below 0x20 and bytes from 0x7F up as \\xHH."""
    return "".join(
        f"\\x{byte:02X}" if byte < 0x20 or byte >= 0x7F or byte in b'"\\' else chr(byte)
        for byte in data
    )


# The start of a TLS ClientHello, which clients send when they speak TLS to a
# plain-HTTP port.
TLS_HANDSHAKE = bytes(
    [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]
)
REFERERS = (
    "https://www.example.com/",
    "https://www.example.com/blog/2024/10/grafana-tips/",
    "https://search.example.net/?q=example",
)
# nginx ends the request line of HTTP/2 and HTTP/3 requests with HTTP/2.0 and HTTP/3.0.
NGINX_PROTOCOLS = {"HTTP/2": "HTTP/2.0", "HTTP/3": "HTTP/3.0"}


def format_nginx(request, clock, rng):
    time_local = clock.nginx_time_local(request.epoch_ms)
    junk = rng.below(1000)
    if junk == 0:
        # The client closed the connection before sending a request line.
        return f'{request.client_ip} - - [{time_local}] "-" 400 0 "-" "-"'
    if junk == 1:
        random_bytes = bytes(rng.below(256) for _ in range(8))
        line = nginx_escape_bytes(TLS_HANDSHAKE + random_bytes)
        return f'{request.client_ip} - - [{time_local}] "{line}" 400 157 "-" "-"'

    protocol = NGINX_PROTOCOLS.get(request.protocol, request.protocol)
    request_line = f"{request.method} {request.path} {protocol}"
    # nginx logs a client that left before the response as 499.
    status = 499 if request.code == 0 else request.code
    user = "alice" if rng.below(50) == 0 else "-"
    referer = rng.pick(REFERERS) if rng.below(4) == 0 else "-"
    agent = dash(request.user_agent)
    return (
        f"{request.client_ip} - {user} [{time_local}] "
        f'"{nginx_escape(request_line)}" {status} {request.bytes_sent} '
        f'"{nginx_escape(referer)}" "{nginx_escape(agent)}"'
    )


FORMATTERS = {
    "envoy": format_envoy,
    "envoy-json": format_envoy_json,
    "nginx": format_nginx,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--format",
        required=True,
        choices=sorted(FORMATTERS),
        help="log format to write",
    )
    parser.add_argument(
        "--lines", required=True, type=int, help="number of lines to write"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        help="generator seed (default: 1); the same seed gives the same output",
    )
    args = parser.parse_args()
    if args.lines < 0:
        parser.error(f"--lines must be 0 or more, got {args.lines}")

    rng = SplitMix64(args.seed)
    client_ips = make_client_ips(rng)
    formatter = FORMATTERS[args.format]
    clock = Clock()
    epoch_ms = START_EPOCH_MS
    out = sys.stdout.buffer
    batch = []
    for _ in range(args.lines):
        # About 1000 requests per second: 0 to 2 ms between consecutive start times.
        epoch_ms += rng.below(3)
        batch.append(formatter(generate_request(rng, client_ips, epoch_ms), clock, rng))
        if len(batch) == 10000:
            out.write(("\n".join(batch) + "\n").encode("ascii"))
            batch.clear()
    if batch:
        out.write(("\n".join(batch) + "\n").encode("ascii"))


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        # The reader closed the pipe early, as `| head` does. Point stdout at /dev/null
        # so the final flush does not raise again, and exit without a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
