"""How fast redaction is with a fleet's worth of known credentials.

Every log line passes :func:`syncd.redaction.scrub`, and every credential
rotation registers new values (in every encoding: raw, URL, JSON once and
twice, repr, base64), so both must stay cheap as the number of targets grows.
Prints registration cost, scrub cost per typical log line and per
botocore-debug-sized body (best of five rounds: the machine may be shared),
and RSS growth over many rotations.

    python benchmarks/redaction.py [--values 5000]
"""

from __future__ import annotations

import argparse
import resource
import secrets
import time

from syncd import redaction


def rss_mib() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Run the measurements and print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--values", type=int, default=5000, help="credentials to register")
    args = parser.parse_args()

    passwords = [secrets.token_urlsafe(24) for _ in range(args.values)]
    redaction.register("cdk_live_api_key_0123456789abcdef", pinned=True)
    redaction.register("Qz7x")  # a short password: checked at token boundaries
    start = time.perf_counter()
    for pw in passwords:
        redaction.register(pw, f"postgresql://owner:{pw}@ep-x.neon.tech/neondb?sslmode=require")
    per_register = (time.perf_counter() - start) / args.values
    print(f"known values: {args.values} credentials ({len(redaction._registry)} encodings)")
    print(f"register: {per_register * 1e6:.1f} us per credential (URI + password)")

    line = (
        '{"event": "secret_updated", "target": "app-main", "sink": "aws", '
        '"secret": "prod/app/database", "version": "3f2a9c", "timestamp": "2026-11-26T10:00:00Z"}'
    )
    body = ("x" * 120 + " " + passwords[-1] + " ") * 40  # ~10 KB, like a debug request dump
    for name, text, rounds in (
        (f"log line ({len(line)} chars)", line, 20000),
        (f"body ({len(body)} chars)", body, 500),
    ):
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(rounds // 5):
                redaction.scrub(text)
            best = min(best, (time.perf_counter() - start) / (rounds // 5))
        print(f"scrub {name}: {best * 1e6:.1f} us")

    before = rss_mib()
    for _ in range(2000):  # rotations: each registers a fresh credential
        redaction.register(secrets.token_urlsafe(24))
        redaction.scrub(line)
    print(f"2000 more rotations: peak RSS {before:.1f} -> {rss_mib():.1f} MiB")


if __name__ == "__main__":
    main()
