#!/usr/bin/env python3
"""Count the metrics rules/envoy.toml should produce for Envoy default-format logs.

This is an independent check on logtally. It splits each line by hand instead of using
the rule file's regex, and does all arithmetic in exact decimals. From the rule file it
reads only the histogram bucket bounds. Metric names, labels and the conversion from
milliseconds to seconds are written out here, so a wrong name, label or `scale` in the
rule file shows up as a difference.

Output is one sample per line in the Prometheus text format, without `#` lines, sorted
the way logtally's exposition sorts them. It can be compared with diff against the
non-`#` lines of `logtally once --rules rules/envoy.toml FILE`:
- metric families by name;
- series by label values, compared label by label as bytes, in the rule's label order;
- for each histogram series, its buckets in bound order ending with le="+Inf", then
  `_sum` and `_count`.
A summary with the number of lines that did not parse goes to standard error.

Usage:
    python3 benches/count_envoy.py [--rules PATH] FILE [FILE ...]
"""

import argparse
import collections
import decimal
import sys
import tomllib
from pathlib import Path

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "rules" / "envoy.toml"

REQUESTS = "envoy_http_requests_total"
REQUEST_BYTES = "envoy_http_request_bytes_total"
RESPONSE_BYTES = "envoy_http_response_bytes_total"
DURATION = "envoy_http_request_duration_seconds"
UPSTREAM_TIME = "envoy_upstream_service_time_seconds"

# RFC 9110 token characters, which an HTTP method consists of.
TOKEN_BYTES = frozenset(
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
# Printable ASCII without space and `"`: every byte a valid host[:port] can contain.
AUTHORITY_BYTES = frozenset(range(0x21, 0x7F)) - {ord('"')}
PROTOCOL_VERSION_BYTES = frozenset(b"0123456789.")

# Exact decimal arithmetic: any rounding raises decimal.Inexact instead of passing.
decimal.getcontext().prec = 60
decimal.getcontext().traps[decimal.Inexact] = True


class Record:
    """The fields of one access-log line that the metrics use.

    Numeric fields are None where the log has `-`.
    """

    __slots__ = (
        "method",
        "code",
        "authority",
        "bytes_received",
        "bytes_sent",
        "duration_ms",
        "upstream_service_time_ms",
    )


def parse_number(token):
    """Return the integer in an all-digit token, None for `-`, or raise ValueError."""
    if token == b"-":
        return None
    # bytes.isdigit() accepts ASCII digits only, and rejects b"".
    if not token.isdigit():
        raise ValueError(f"invalid number {token!r}")
    return int(token)


def is_timestamp(text):
    """Check for YYYY-MM-DDTHH:MM:SS.mmmZ, the form of Envoy's default START_TIME."""
    if len(text) != 24:
        return False
    separators = {4: b"-", 7: b"-", 10: b"T", 13: b":", 16: b":", 19: b".", 23: b"Z"}
    for index in range(24):
        expected = separators.get(index)
        if expected is None:
            if not 0x30 <= text[index] <= 0x39:
                return False
        elif text[index : index + 1] != expected:
            return False
    return True


def client_fields_are_valid(text):
    """Check for `"XFF" "UA" "ID` without its closing quote. Each part may be anything.

    Envoy does not escape quotes, so only the two `" "` separators divide the three
    client-supplied fields. Any division will do because their contents are not used.
    """
    if not text.startswith(b'"'):
        return False
    body = text[1:]
    first = body.find(b'" "')
    last = body.rfind(b'" "')
    return first != -1 and last >= first + 3


def parse_after_path(text, record):
    """Parse `PROTOCOL" CODE FLAGS ... "UPSTREAM_HOST"`, the text after the path.

    Fill record and return True, or return False when the text does not have that form.
    """
    if text.startswith(b'-"'):
        rest = text[2:]
    elif text.startswith(b"HTTP/"):
        end = text.find(b'"', 5)
        version = text[5:end]
        if end == -1 or not version or not set(version) <= PROTOCOL_VERSION_BYTES:
            return False
        rest = text[end + 1 :]
    else:
        return False

    # Six fields that cannot contain a space, each after one space, then quoted fields.
    tokens = rest.split(b" ", 7)
    if len(tokens) != 8 or tokens[0] != b"":
        return False
    code, flags, received, sent, duration, upstream_time, quoted = tokens[1:]
    if not (code == b"-" or (1 <= len(code) <= 3 and code.isdigit())):
        return False
    if not flags:
        return False
    try:
        values = [parse_number(token) for token in (received, sent, duration)]
        values.append(parse_number(upstream_time))
    except ValueError:
        return False

    # The authority and the upstream host never contain `"`, so they are the last two
    # quoted fields, and all text before them belongs to the client-supplied fields.
    if not quoted.endswith(b'"'):
        return False
    host_open = quoted.rfind(b'"', 0, len(quoted) - 1)
    if host_open < 2 or quoted[host_open - 2 : host_open] != b'" ':
        return False
    authority_close = host_open - 2
    authority_open = quoted.rfind(b'"', 0, authority_close)
    if authority_open < 2 or quoted[authority_open - 2 : authority_open] != b'" ':
        return False
    authority = quoted[authority_open + 1 : authority_close]
    if not set(authority) <= AUTHORITY_BYTES:
        return False
    if not client_fields_are_valid(quoted[: authority_open - 2]):
        return False

    record.code = code
    record.authority = authority
    record.bytes_received = values[0]
    record.bytes_sent = values[1]
    record.duration_ms = values[2]
    record.upstream_service_time_ms = values[3]
    return True


def parse_line(line):
    """Parse one Envoy default-format line into a Record, or return None."""
    if not line.startswith(b"[") or not is_timestamp(line[1:25]):
        return None
    if line[25:28] != b'] "':
        return None
    request = line[28:]
    method_end = request.find(b" ")
    method = request[:method_end]
    if method_end < 1 or not set(method) <= TOKEN_BYTES:
        return None

    # The path may contain spaces and quotes. Like the rule's lazy `.*?`, take the
    # shortest path after which the rest of the line parses.
    after_method = request[method_end + 1 :]
    record = Record()
    record.method = method
    space = after_method.find(b" ")
    while space != -1:
        if parse_after_path(after_method[space + 1 :], record):
            return record
        space = after_method.find(b" ", space + 1)
    return None


class Totals:
    """Every series of the five metrics, keyed by label values.

    Histogram series are Counters of observations per whole millisecond.
    """

    def __init__(self):
        self.requests = collections.Counter()
        self.request_bytes = {}
        self.response_bytes = {}
        self.duration = {}
        self.upstream_time = {}
        self.lines = 0
        self.unmatched = 0

    def add(self, record):
        self.requests[(record.method, record.code, record.authority)] += 1
        key = (record.authority,)
        # A `-` value is no update at all, so it neither adds zero nor creates a series.
        # NOTE: this assumes logtally also creates a series only on its first update.
        if record.bytes_received is not None:
            total = self.request_bytes.get(key, 0)
            self.request_bytes[key] = total + record.bytes_received
        if record.bytes_sent is not None:
            total = self.response_bytes.get(key, 0)
            self.response_bytes[key] = total + record.bytes_sent
        if record.duration_ms is not None:
            series = self.duration.setdefault(key, collections.Counter())
            series[record.duration_ms] += 1
        if record.upstream_service_time_ms is not None:
            series = self.upstream_time.setdefault(key, collections.Counter())
            series[record.upstream_service_time_ms] += 1


def count_stream(stream, totals):
    for raw in stream:
        # Binary iteration splits on b"\n" only. Like logtally, drop one trailing "\r".
        line = raw[:-1] if raw.endswith(b"\n") else raw
        if line.endswith(b"\r"):
            line = line[:-1]
        totals.lines += 1
        record = parse_line(line)
        if record is None:
            totals.unmatched += 1
        else:
            totals.add(record)


def format_decimal(value):
    """Format a number as the shortest plain decimal: 12, 0.7, 4.559, never 1.2E+1."""
    value = decimal.Decimal(value)
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def escape_label_value(value):
    # The parser admits only ASCII in label values.
    text = value.decode("ascii")
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_labels(names, values, le=None):
    """Format `{name="value",...}` in the given label order, with `le` last if given."""
    pairs = []
    for name, value in zip(names, values):
        pairs.append(f'{name}="{escape_label_value(value)}"')
    if le is not None:
        pairs.append(f'le="{le}"')
    return "{" + ",".join(pairs) + "}"


def counter_lines(name, label_names, series):
    for values in sorted(series):
        yield f"{name}{format_labels(label_names, values)} {series[values]}"


def histogram_lines(name, label_names, series, bounds):
    for values in sorted(series):
        count_by_ms = series[values]
        labels = format_labels(label_names, values)
        # Milliseconds become seconds exactly: 700 ms is 0.7 s, not 0.7000000000000001.
        seconds_by_ms = {ms: decimal.Decimal(ms).scaleb(-3) for ms in count_by_ms}
        for bound in bounds:
            # Buckets are cumulative and inclusive: a value equal to a bound is in it.
            cumulative = 0
            for ms, count in count_by_ms.items():
                if seconds_by_ms[ms] <= bound:
                    cumulative += count
            bound_labels = format_labels(label_names, values, format_decimal(bound))
            yield f"{name}_bucket{bound_labels} {cumulative}"
        count = sum(count_by_ms.values())
        total_ms = sum(ms * n for ms, n in count_by_ms.items())
        total_seconds = decimal.Decimal(total_ms).scaleb(-3)
        yield f"{name}_bucket{format_labels(label_names, values, '+Inf')} {count}"
        yield f"{name}_sum{labels} {format_decimal(total_seconds)}"
        yield f"{name}_count{labels} {count}"


def load_bounds(rules_path):
    """Read both histograms' bucket bounds as exact decimals, keyed by metric name."""
    with open(rules_path, "rb") as file:
        # parse_float=Decimal reads `0.7` as exactly 0.7, not the nearest binary float.
        rules = tomllib.load(file, parse_float=decimal.Decimal)
    bounds_by_name = {}
    for metric in rules.get("metric", []):
        name = metric.get("name")
        if name not in (DURATION, UPSTREAM_TIME):
            continue
        bounds = [decimal.Decimal(bound) for bound in metric.get("buckets", [])]
        ascending = all(low < high for low, high in zip(bounds, bounds[1:]))
        if not bounds or not ascending:
            sys.exit(
                f"{rules_path}: invalid buckets for {name}: {metric.get('buckets')};"
                " expected a non-empty, strictly ascending list"
            )
        bounds_by_name[name] = bounds
    for name in (DURATION, UPSTREAM_TIME):
        if name not in bounds_by_name:
            sys.exit(
                f"{rules_path}: histogram {name} not found;"
                " pass the Envoy rule file with --rules"
            )
    return bounds_by_name


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rules",
        default=DEFAULT_RULES,
        type=Path,
        help="rule file to read the bucket bounds from (default: rules/envoy.toml)",
    )
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="access log to count; - reads standard input",
    )
    args = parser.parse_args()
    bounds = load_bounds(args.rules)

    totals = Totals()
    for path in args.files:
        if path == "-":
            count_stream(sys.stdin.buffer, totals)
        else:
            with open(path, "rb") as stream:
                count_stream(stream, totals)

    families = {
        REQUESTS: counter_lines(
            REQUESTS, ("method", "code", "authority"), totals.requests
        ),
        REQUEST_BYTES: counter_lines(
            REQUEST_BYTES, ("authority",), totals.request_bytes
        ),
        RESPONSE_BYTES: counter_lines(
            RESPONSE_BYTES, ("authority",), totals.response_bytes
        ),
        DURATION: histogram_lines(
            DURATION, ("authority",), totals.duration, bounds[DURATION]
        ),
        UPSTREAM_TIME: histogram_lines(
            UPSTREAM_TIME, ("authority",), totals.upstream_time, bounds[UPSTREAM_TIME]
        ),
    }
    for name in sorted(families):
        for sample in families[name]:
            sys.stdout.write(sample + "\n")

    matched = totals.lines - totals.unmatched
    print(
        f"count_envoy: {totals.lines} lines, {matched} matched,"
        f" {totals.unmatched} unmatched",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
