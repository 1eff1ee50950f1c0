"""The log lines every throughput benchmark writes: ~100 bytes, every other one a JSON metric
line with three numeric keys (one string value, which is not a metric), the rest prose that
holds no `key=value` pair."""

from __future__ import annotations


def line(i: int) -> str:
    if i % 2:
        return (
            f'{{"step": {i}, "loss": {1.0 / (i + 1):.6f}, "lr": 0.0003, '
            f'"phase": "train/accumulate-gradients-{i % 7}"}}'
        )
    return f"[rank0] epoch 3 batch {i} loaded 256 samples from shard-{i % 97:04d}.tar in 12.3 ms"


METRIC_KEYS_PER_METRIC_LINE = 3


def expected_samples(count: int) -> int:
    return (count // 2) * METRIC_KEYS_PER_METRIC_LINE


def block(start: int, count: int) -> str:
    return "".join(line(i) + "\n" for i in range(start, start + count))
