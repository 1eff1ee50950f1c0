"""Bounded memory: RSS after following a 5,000,000-line log against a 10,000-line one.

Each size runs `bench/log_follow.py --cockpit-only` in a fresh process (a real supervisor, the
watch app headless) and reads VmRSS when the pane holds the last line and the store has every
sample: the app's (this is the target) and the supervisor's (reported). Baseline, in the same
run: the 10,000-line follow. Target (issue 7): app RSS at 5M lines <= 1.3 x at 10k lines.

Usage: python bench/memory.py [SMALL] [LARGE]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def follow(lines: int) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, str(HERE / "log_follow.py"), "--cockpit-only", str(lines)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    small = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    large = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000_000
    base, big = follow(small), follow(large)
    for name, result in ((f"{small:,} lines", base), (f"{large:,} lines", big)):
        print(
            f"{name:>16}: app RSS {result['app_rss_kib'] / 1024:6.1f} MiB "
            f"(peak {result['app_peak_kib'] / 1024:6.1f})  supervisor RSS "
            f"{result['supervisor_rss_kib'] / 1024:6.1f} MiB "
            f"(peak {result['supervisor_peak_kib'] / 1024:6.1f})  in {result['seconds']:.1f} s"
        )
    ratio = big["app_rss_kib"] / base["app_rss_kib"]
    sup = big["supervisor_rss_kib"] / base["supervisor_rss_kib"]
    verdict = "ok" if ratio <= 1.3 else "MISSED (target <= 1.3x)"
    print(f"app RSS {large:,} / {small:,} lines: {ratio:.2f}x  {verdict}")
    print(f"supervisor RSS {large:,} / {small:,} lines: {sup:.2f}x (reported, no target)")


if __name__ == "__main__":
    main()
