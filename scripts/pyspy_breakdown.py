"""Where a live app's time goes: bucket py-spy ``--format raw`` samples of the streamlit server.

    py-spy record -p PID -d 20 -r 50 -f raw -o app.raw --threads --gil    # samples that hold the GIL
    python scripts/pyspy_breakdown.py app.raw

Buckets (first match along the stack, innermost frame first): the training thread's optimisation step,
its periodic snapshot/evaluation, streamlit's post-run garbage collection, building plotly figures,
the rest of a script / fragment run, and the server's own threads.
"""

from __future__ import annotations

import collections
import sys

BUCKETS = [  # (bucket, substring of a frame), checked from the innermost frame outwards
    ("gc after each script run", "_on_script_finished"),
    ("trainer: snapshot / evaluation", "Trainer._periodic"),
    ("trainer: optimisation step", "Trainer._loop"),
    ("plotly figure building", "plotly/"),
    ("image encoding", "PIL/"),
    ("script / fragment run (other)", "ScriptRunner"),
]


def bucket(frames: list[str]) -> str:
    joined = ";".join(frames)
    for name, needle in BUCKETS[:3]:          # whole-stack markers
        if needle in joined:
            return name
    for fr in reversed(frames):
        for name, needle in BUCKETS[3:]:
            if needle in fr:
                return name
    return "server threads (tornado, watchers)"


def breakdown(path: str) -> dict[str, int]:
    out: collections.Counter[str] = collections.Counter()
    for line in open(path, encoding="utf-8"):
        stack, _, n = line.rstrip("\n").rpartition(" ")
        if stack:
            out[bucket(stack.split(";")[1:])] += int(n)
    return dict(out)


def main() -> int:
    for path in sys.argv[1:]:
        counts = breakdown(path)
        total = sum(counts.values()) or 1
        print(f"{path}: {total} samples")
        for k, v in sorted(counts.items(), key=lambda kv: -kv[1]):
            print(f"  {v / total:6.1%}  {v:6d}  {k}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
