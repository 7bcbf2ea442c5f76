"""What redaction costs with a fleet's credentials known: memory, registration, scrubbing.

Every log line passes :func:`syncd.redaction.scrub`, and every fetch registers
what it fetched the way the providers do: the password and the URI it came
in under the target's slot, which keeps the current and the previous one for
as long as the target exists. So memory grows
with the number of targets (not with time), and must stay small per target.
Prints, for N targets each rotated once (two generations each):

* the registry's memory per target (tracemalloc, after the registry is built),
* registration CPU per target, and per target fetched again unchanged,
* scrub cost per typical log line, per log line holding a base64 run, and per
  botocore-debug-sized body (best of five rounds: the machine may be shared),
* that the first target's previous password, registered first, is still masked.

    python -m benchmarks.redaction [--targets 10000]
"""

from __future__ import annotations

import argparse
import base64
import secrets
import time
import tracemalloc

from syncd import redaction


def _uri(i: int, password: str) -> str:
    return f"postgresql://app_{i}:{password}@ep-cool-{i}.us-east-2.aws.neon.tech/neondb?sslmode=require"


def register(targets: int) -> tuple[list[str], float, float]:
    """Register two generations per target as providers do; return passwords and CPU times."""
    first = [f"pw{secrets.token_urlsafe(24)}" for _ in range(targets)]
    second = [f"pw{secrets.token_urlsafe(24)}" for _ in range(targets)]
    start = time.process_time()
    for generation in (first, second):
        for i, password in enumerate(generation):
            redaction.register(password, _uri(i, password), slot=f"conn:casedev:t{i}:app_{i}")
        len(redaction._registry)  # expand what is still queued
    per_target = (time.process_time() - start) / (2 * targets)
    start = time.process_time()
    for i, password in enumerate(second):  # the next cycle: nothing changed
        redaction.register(password, _uri(i, password), slot=f"conn:casedev:t{i}:app_{i}")
    len(redaction._registry)
    unchanged = (time.process_time() - start) / targets
    return first, per_target, unchanged


def scrub_cost(text: str, rounds: int) -> float:
    """Seconds per scrub of ``text``, best of five rounds."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds // 5):
            redaction.scrub(text)
        best = min(best, (time.perf_counter() - start) / (rounds // 5))
    return best


def main() -> None:
    """Run the measurements and print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=10_000)
    args = parser.parse_args()

    redaction.register("cdk_live_api_key_0123456789abcdef", pinned=True)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    first, per_target, unchanged = register(args.targets)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(f"targets: {args.targets}, each rotated once ({len(redaction._registry)} stored forms)")
    print(f"registry memory: {used / 1e6:.1f} MB, {used / args.targets:.0f} bytes per target")
    print(f"register: {per_target * 1e6:.1f} us CPU per new credential (password + URI)")
    print(f"register unchanged (every later cycle): {unchanged * 1e6:.1f} us CPU per target")

    line = (
        '{"event": "secret_updated", "target": "app-main", "sink": "aws", '
        '"secret": "prod/app/database", "version": "3f2a9c", "timestamp": "2026-11-26T10:00:00Z"}'
    )
    b64 = line.replace('"3f2a9c"', f'"{base64.b64encode(secrets.token_bytes(48)).decode()}"')
    body = ("x" * 120 + " " + first[-1] + " ") * 40  # ~10 KB, like a debug request dump
    for name, text, rounds in (
        (f"log line ({len(line)} chars)", line, 20000),
        (f"log line with a 64-char base64 run ({len(b64)} chars)", b64, 20000),
        (f"body ({len(body)} chars)", body, 500),
    ):
        print(f"scrub {name}: {scrub_cost(text, rounds) * 1e6:.1f} us")
    oldest = first[0]
    masked = redaction.scrub(f"{oldest} {base64.b64encode(oldest.encode()).decode()}")
    print(f"the first target's previous password, registered first: {masked!r}")


if __name__ == "__main__":
    main()
