"""HTTP plumbing that providers and sinks share: bounded requests, retries, rate limits."""
