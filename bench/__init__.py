"""The benchmark suite: ARM throughput against a hello-world baseline, and SDK latency."""
