"""Where a benchmark's time goes: run it under py-spy (all its processes) and summarise.

    python -m bench.profile backlog_drain [--quick] [--rate 200] [--top 15]

Runs ``python -m bench.<name>`` under ``py-spy record --subprocesses --format raw`` (the
coordinator, kiosk and baseline processes are sampled too), keeps the collapsed stacks in
``var/bench/profiles/<name>.txt`` and prints, per process, the functions with the most
samples: inclusive (on the stack) and self (running). Idle threads are not sampled
(py-spy's default), so the shares are of busy time. Needs root or ptrace rights.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench" / "profiles"
_PLUMBING = ("(threading.py)", "(<frozen runpy>)", "(shared/cli.py)", "(bench/kiosk_child.py)")
"""Frames on nearly every stack (thread start, ``-m`` entry); left out of the inclusive list."""
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match.group("file")
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match.group('func')} ({path})"


def _process_name(label: str) -> str:
    """``process 123:"python -m bench.x --a b"`` -> ``bench.x --a b`` (paths shortened)."""
    command = label.split(":", 1)[-1].strip('"')
    if " -m " in command:
        command = command.split(" -m ", 1)[1]
    words = [w.rsplit("/", 1)[-1] if "/" in w else w for w in command.split()]
    return " ".join(words)[:120]


def summarise(raw: Path, top: int) -> str:
    """Per process: total samples, top inclusive and top self functions."""
    inclusive: dict[str, Counter[str]] = defaultdict(Counter)
    own: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        labels = [f for f in frames if f.startswith("process ")]
        process = _process_name(labels[-1]) if labels else "?"
        frames = [f for f in frames if not f.startswith(("process", "thread"))]
        n = int(count)
        totals[process] += n
        for name in {_short(f) for f in frames}:
            if not name.endswith(_PLUMBING):
                inclusive[process][name] += n
        if frames:
            own[process][_short(frames[-1])] += n
    out = []
    for process, total in totals.most_common():
        out.append(f"== {process[:150]}: {total} samples")
        out.append("  inclusive:")
        out += [f"    {n / total:6.1%}  {name}" for name, n in inclusive[process].most_common(top)]
        out.append("  self:")
        out += [f"    {n / total:6.1%}  {name}" for name, n in own[process].most_common(top)]
    return "\n".join(out)


def main() -> int:
    """Profile one benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    OUT.mkdir(parents=True, exist_ok=True)
    raw = OUT / f"{args.name}{'-quick' if args.quick else ''}.txt"
    cmd = [spy, "record", "--subprocesses", "--format", "raw", "--rate", str(args.rate)]
    cmd += ["--output", str(raw), "--", sys.executable, "-m", f"bench.{args.name}"]
    cmd += ["--quick"] if args.quick else []
    proc = subprocess.run(cmd, cwd=ROOT, check=False)
    if not raw.exists():
        print(f"py-spy wrote no profile (exit {proc.returncode})", file=sys.stderr)
        return 1
    print(summarise(raw, args.top))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
