#!/usr/bin/env python3
"""Times the `ruchy` binary against peer languages on the shared workloads, side by side.

For each workload in ``../shared/bench`` (relative to the repository root) that has a peer
program, this script runs ``ruchy run --tier=T W.ruchy`` for each requested tier and each requested
peer (``python3 peers/W.py`` by default), interleaved (ruchy, python, ruchy, python, ...) ``--runs``
times, checks every run's standard output against ``W.out``, and reports the median and minimum
wall time of each executor and the ratios between them. It also times ``ruchy run`` on a one-line
hello-world program (process start-up dominates).

The results are printed and written as a Markdown section to ``docs/PERFORMANCE.md`` (or the
``--markdown`` path). Nothing is built: build the binary first with ``cargo build --release -p
ruchy``.

Exit status: 0 when every run printed the expected output, 1 when any run mismatched or failed,
2 on a usage error (e.g. the binary is missing).

Usage (from the repository root)::

    cargo build --release -p ruchy
    python3 benches/compare.py                        # 5 interleaved runs, peer python3
    python3 benches/compare.py --runs 3 --peers python3,node,rustc --workloads fib,primes

Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = (REPO / ".." / "shared" / "bench").resolve()
PEER_DIR = BENCH_DIR / "peers"
DEFAULT_RUCHY = REPO / "target" / "release" / "ruchy"
DEFAULT_MARKDOWN = REPO / "docs" / "PERFORMANCE.md"

HELLO_SOURCE = 'println("Hello, Ruchy!")\n'
HELLO_OUTPUT = b"Hello, Ruchy!\n"

# The Markdown section this script owns is delimited by these markers, so that re-running it
# replaces its own section and leaves any other text of the file alone.
BEGIN_MARK = "<!-- benches/compare.py: begin -->"
END_MARK = "<!-- benches/compare.py: end -->"

# Supported peers: command name -> (file extension of the peer program, how to query its version).
PEERS: dict[str, tuple[str, list[str]]] = {
    "python3": (".py", ["--version"]),
    "lua5.4": (".lua", ["-v"]),
    "luajit": (".lua", ["-v"]),
    "node": (".js", ["--version"]),
    "rustc": (".rs", ["--version"]),
}


# --------------------------------------------------------------------------------------------
# Executors and measurements


@dataclass
class Executor:
    """One way of running a workload: a label and the command line that runs it."""

    label: str
    argv: list[str]
    # The peer this executor is (None for ruchy tiers); ratios are computed against peers.
    peer: str | None = None
    times: list[float] = field(default_factory=list)
    # Why this executor stopped being timed (a mismatch or a failure), if it did.
    failure: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times and not self.failure else None

    @property
    def minimum(self) -> float | None:
        return min(self.times) if self.times and not self.failure else None


@dataclass
class WorkloadResult:
    name: str
    executors: list[Executor]
    notes: list[str] = field(default_factory=list)


def loud(message: str) -> None:
    """Reports a problem on standard error so that it cannot be missed."""
    bar = "!" * 78
    print(f"\n{bar}\n{message}\n{bar}\n", file=sys.stderr, flush=True)


def first_difference(expected: bytes, got: bytes) -> str:
    """A short description of where two outputs first differ, line by line."""
    exp_lines = expected.decode(errors="replace").splitlines()
    got_lines = got.decode(errors="replace").splitlines()
    for i, (e, g) in enumerate(zip(exp_lines, got_lines)):
        if e != g:
            return f"line {i + 1}: expected {e!r}, got {g!r}"
    if len(exp_lines) != len(got_lines):
        return f"expected {len(exp_lines)} lines, got {len(got_lines)}"
    return "outputs differ in whitespace or line endings"


def timed_run(argv: list[str], cwd: Path, timeout: float) -> tuple[float, subprocess.CompletedProcess]:
    """Runs a command to completion, capturing its output; returns (wall seconds, result)."""
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=timeout)
    return time.perf_counter() - start, proc


def measure(name: str, executors: list[Executor], expected: bytes, runs: int,
            timeout: float) -> None:
    """Runs the executors interleaved `runs` times, checking each output against `expected`.

    An executor that prints the wrong output, exits non-zero or times out is reported loudly and
    not run again; its `failure` is set.
    """
    for _ in range(runs):
        for ex in executors:
            if ex.failure:
                continue
            try:
                seconds, proc = timed_run(ex.argv, BENCH_DIR, timeout)
            except subprocess.TimeoutExpired:
                ex.failure = f"timed out after {timeout:g} s"
                loud(f"TIMEOUT: {name} / {ex.label}: {ex.failure}\n  command: {shlex.join(ex.argv)}")
                continue
            if proc.returncode != 0:
                ex.failure = f"exit status {proc.returncode}"
                stderr = proc.stderr.decode(errors="replace").strip()
                loud(f"FAILED: {name} / {ex.label}: {ex.failure}\n  command: {shlex.join(ex.argv)}"
                     f"\n  stderr: {stderr[:2000]}")
                continue
            if proc.stdout != expected:
                ex.failure = "output mismatch: " + first_difference(expected, proc.stdout)
                loud(f"OUTPUT MISMATCH: {name} / {ex.label}\n  command: {shlex.join(ex.argv)}"
                     f"\n  {ex.failure}")
                continue
            ex.times.append(seconds)


# --------------------------------------------------------------------------------------------
# Set-up: the binary, peers, workloads


def resolve_peer(peer: str) -> str | None:
    """The real path of a peer's executable, or None when it is not installed.

    Launchers such as pyenv shims are shell scripts that add tens of milliseconds to every run,
    so Python is resolved to the interpreter the shim would exec (`sys.executable`).
    """
    path = shutil.which(peer)
    if path is None:
        return None
    # Other executables are used as found on PATH: resolving symbolic links would break
    # multi-call proxies such as rustup's (`rustc` -> `rustup`).
    if peer == "python3":
        try:
            out = subprocess.run([path, "-c", "import sys; print(sys.executable)"],
                                 capture_output=True, text=True, timeout=30, check=True)
            real = out.stdout.strip()
            if real:
                return real
        except (subprocess.SubprocessError, OSError):
            pass
    return path


def version_of(executable: str, flags: list[str]) -> str:
    try:
        out = subprocess.run([executable, *flags], capture_output=True, text=True, timeout=30)
    except (subprocess.SubprocessError, OSError) as e:
        return f"unknown ({e})"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def compile_rust_peer(rustc: str, source: Path, out_dir: Path) -> tuple[Path | None, str]:
    """Compiles a Rust peer with `rustc -O`; returns (binary, "") or (None, error text)."""
    binary = out_dir / source.stem
    proc = subprocess.run([rustc, "-O", "-o", str(binary), str(source)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return None, proc.stderr.strip()
    return binary, ""


def all_workloads() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("*.ruchy"))


def comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def machine_info(peer_paths: dict[str, str], ruchy: Path) -> list[tuple[str, str]]:
    """Facts about the machine and tools, for the report."""
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    except OSError:
        nproc = str(os.cpu_count())
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    python3 = shutil.which("python3")
    info = [
        ("nproc", nproc),
        ("CPU", cpu),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("python3 --version", version_of(python3, ["--version"]) if python3 else "not installed"),
    ]
    for peer, path in peer_paths.items():
        if peer != "python3":
            info.append((f"{peer} version", version_of(path, PEERS[peer][1])))
    info.append(("ruchy", f"{ruchy} ({version_of(str(ruchy), ['--version'])})"))
    info.append(("commit", git_commit()))
    return info


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"
    if not head:
        return "unknown"
    return head + (" (with uncommitted changes)" if dirty else "")


# --------------------------------------------------------------------------------------------
# Reporting


def fmt_seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def ratio(peer: Executor, row: Executor) -> str:
    """peer median / row median: > 1 means the row's executor is faster than the peer."""
    if peer.median is None or row.median is None or row.median == 0:
        return "—"
    return f"{peer.median / row.median:.2f}"


def table_rows(result: WorkloadResult, peer_labels: list[str]) -> tuple[list[str], list[list[str]]]:
    peers = {ex.label: ex for ex in result.executors if ex.peer}
    header = ["executor", "median s", "min s"] + [f"ratio vs {p}" for p in peer_labels]
    rows = []
    for ex in result.executors:
        row = [ex.label, fmt_seconds(ex.median), fmt_seconds(ex.minimum)]
        for p in peer_labels:
            row.append(ratio(peers[p], ex) if p in peers else "—")
        if ex.failure:
            row[1] = f"**FAILED: {ex.failure}**"
        rows.append(row)
    return header, rows


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)


def markdown_section(command: str, date: str, info: list[tuple[str, str]], runs: int,
                     results: list[WorkloadResult], peer_labels: list[str],
                     hello: list[Executor], hello_runs: int, skipped: list[str]) -> str:
    out = [BEGIN_MARK, "## Ruchy vs peers, wall time per workload", ""]
    out.append(f"- Date: {date}")
    for key, value in info:
        out.append(f"- {key}: {value}")
    out.append(f"- Command (from the repository root): `{command}`")
    out.append("")
    out.append(
        f"Figures are wall-clock times of whole processes (start-up included), median and minimum "
        f"of {runs} run{'s' if runs != 1 else ''} per executor, interleaved (ruchy, peer, ruchy, peer, ...) in one session "
        f"on a noisy, shared 2-core machine: absolute seconds vary between sessions, **the ratios "
        f"are what matters**. A ratio is the peer's median divided by the row's median, so "
        f"**> 1 means the row's executor is faster** than that peer. Every run's output was "
        f"checked against the workload's `.out` file.")
    out.append("")
    for note in skipped:
        out.append(f"> {note}")
    if skipped:
        out.append("")
    for result in results:
        out.append(f"### {result.name}")
        out.append("")
        header, rows = table_rows(result, peer_labels)
        out.append(markdown_table(header, rows))
        for note in result.notes:
            out.append("")
            out.append(f"> {note}")
        out.append("")
    out.append("### hello world")
    out.append("")
    out.append(f"`ruchy run` on a file holding `{HELLO_SOURCE.strip()}`: median and minimum of "
               f"{hello_runs} runs (process start-up, compile and run).")
    out.append("")
    out.append("| executor | median ms | min ms |")
    out.append("|---|---:|---:|")
    for ex in hello:
        med = "—" if ex.median is None else f"{ex.median * 1000:.1f}"
        mn = "—" if ex.minimum is None else f"{ex.minimum * 1000:.1f}"
        if ex.failure:
            med = f"**{ex.failure}**"
        out.append(f"| {ex.label} | {med} | {mn} |")
    out.append("")
    out.append(END_MARK)
    return "\n".join(out) + "\n"


def write_markdown(path: Path, section: str) -> None:
    """Replaces this script's section of `path` (or appends it; or creates the file)."""
    if path.exists():
        text = path.read_text()
        begin, end = text.find(BEGIN_MARK), text.find(END_MARK)
        if begin != -1 and end != -1 and end > begin:
            text = text[:begin] + section + text[end + len(END_MARK):].lstrip("\n")
        else:
            text = text.rstrip("\n") + "\n\n" + section
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = ("# Performance\n\n"
                "Measurements of the `ruchy` binary against other language implementations on the\n"
                "workloads of `../shared/bench`. The section below is generated by\n"
                "`benches/compare.py`; re-run it to refresh. In-process micro-benchmarks of the\n"
                "interpreter and front end: `cargo bench -p ruchy-benches`.\n\n") + section
    path.write_text(text)


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Time `ruchy run` against peer languages on ../shared/bench, interleaved.",
        epilog="Build the binary first: cargo build --release -p ruchy")
    p.add_argument("--ruchy", type=Path, default=DEFAULT_RUCHY,
                   help="path of the ruchy binary (default: %(default)s)")
    p.add_argument("--runs", type=int, default=5,
                   help="interleaved runs of each executor per workload (default: 5)")
    p.add_argument("--hello-runs", type=int, default=20,
                   help="runs of the hello-world program (default: 20)")
    p.add_argument("--tiers", default="0",
                   help="comma list of ruchy tiers to time, passed as --tier=T (default: 0)")
    p.add_argument("--peers", default="python3",
                   help=f"comma list of peers among {', '.join(PEERS)} (default: python3)")
    p.add_argument("--workloads", default=None,
                   help="comma list of workloads to run (default: all that have a peer program)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds before a single run is abandoned as failed (default: 600)")
    p.add_argument("--markdown", type=Path, default=DEFAULT_MARKDOWN,
                   help="Markdown file whose results section is (re)written (default: %(default)s)")
    p.add_argument("--no-markdown", action="store_true", help="only print the results")
    args = p.parse_args(argv)
    if args.runs < 1 or args.hello_runs < 1:
        p.error("--runs and --hello-runs must be at least 1")
    args.tiers = comma_list(args.tiers)
    if not args.tiers:
        p.error("--tiers needs at least one tier")
    args.peers = comma_list(args.peers)
    unknown = [x for x in args.peers if x not in PEERS]
    if unknown:
        p.error(f"unknown peer(s) {', '.join(unknown)}; choose among {', '.join(PEERS)}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    # Keep progress on stdout and problems on stderr in order when both go to a pipe or file.
    sys.stdout.reconfigure(line_buffering=True)
    ruchy = args.ruchy if args.ruchy.is_absolute() else (Path.cwd() / args.ruchy)
    ruchy = ruchy.resolve()
    if not (ruchy.is_file() and os.access(ruchy, os.X_OK)):
        print(f"error: the ruchy binary {ruchy} does not exist or is not executable.\n"
              f"Build it first, from {REPO}:\n\n    cargo build --release -p ruchy\n\n"
              f"or pass another binary with --ruchy PATH.", file=sys.stderr)
        return 2
    if not BENCH_DIR.is_dir():
        print(f"error: the workload directory {BENCH_DIR} is missing "
              f"(expected ../shared/bench next to the repository).", file=sys.stderr)
        return 2

    # Peers that are installed, resolved to their real executables.
    skipped: list[str] = []
    peer_paths: dict[str, str] = {}
    for peer in args.peers:
        path = resolve_peer(peer)
        if path is None:
            msg = f"peer {peer} is not installed: skipped."
            print(msg, file=sys.stderr)
            skipped.append(msg)
        else:
            peer_paths[peer] = path
    peer_labels = list(peer_paths)

    # Workloads: those named, or all with a program for at least one selected peer (with the
    # default `--peers python3`: all that have a Python peer).
    available = all_workloads()
    if args.workloads:
        names = comma_list(args.workloads)
        missing = [n for n in names if n not in available]
        if missing:
            print(f"error: unknown workload(s) {', '.join(missing)}; "
                  f"available: {', '.join(available)}", file=sys.stderr)
            return 2
    else:
        names = [n for n in available
                 if any((PEER_DIR / f"{n}{PEERS[p][0]}").is_file() for p in args.peers)]

    command = shlex.join(["python3", os.path.relpath(Path(__file__).resolve(), Path.cwd()),
                          *argv])
    date = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    info = machine_info(peer_paths, ruchy)
    print(f"Timing {len(names)} workload(s), {args.runs} interleaved run(s) each; "
          f"tiers {', '.join(args.tiers)}; peers {', '.join(peer_labels) or 'none'}.")
    for key, value in info:
        print(f"  {key}: {value}")
    print(flush=True)

    ok = True
    results: list[WorkloadResult] = []
    with tempfile.TemporaryDirectory(prefix="ruchy-compare-") as tmp:
        tmp_dir = Path(tmp)
        for name in names:
            source = BENCH_DIR / f"{name}.ruchy"
            expected_path = BENCH_DIR / f"{name}.out"
            result = WorkloadResult(name, [])
            if not expected_path.is_file():
                loud(f"MISSING: {expected_path} (the expected output of {name})")
                ok = False
                continue
            expected = expected_path.read_bytes()
            for tier in args.tiers:
                result.executors.append(Executor(
                    f"ruchy --tier={tier}", [str(ruchy), "run", f"--tier={tier}", str(source)]))
            for peer, path in peer_paths.items():
                program = PEER_DIR / f"{name}{PEERS[peer][0]}"
                if not program.is_file():
                    result.notes.append(f"no {peer} peer ({program.name}) for {name}.")
                    continue
                if peer == "rustc":
                    binary, error = compile_rust_peer(path, program, tmp_dir)
                    ex = Executor("rustc -O", [str(binary)] if binary else [], peer=peer)
                    if binary is None:
                        ex.failure = "does not compile"
                        loud(f"FAILED: rustc -O {program} does not compile:\n{error[:2000]}")
                else:
                    ex = Executor(peer, [path, str(program)], peer=peer)
                result.executors.append(ex)
            print(f"{name}: running...", flush=True)
            measure(name, result.executors, expected, args.runs, args.timeout)
            if any(ex.failure for ex in result.executors):
                ok = False
            header, rows = table_rows(result, [ex.label for ex in result.executors if ex.peer])
            print(text_table(header, rows))
            print(flush=True)
            results.append(result)
    # Peer labels as they appear in the tables (rustc is labelled `rustc -O`).
    labels = ["rustc -O" if p == "rustc" else p for p in peer_labels]

    # Hello world: process start-up, compile and run of a trivial program.
    with tempfile.TemporaryDirectory(prefix="ruchy-hello-") as tmp:
        hello_file = Path(tmp) / "hello.ruchy"
        hello_file.write_text(HELLO_SOURCE)
        hello = [Executor("ruchy run hello.ruchy", [str(ruchy), "run", str(hello_file)])]
        measure("hello world", hello, HELLO_OUTPUT, args.hello_runs, args.timeout)
        if hello[0].failure:
            ok = False
    if hello[0].median is not None:
        print(f"hello world: ruchy run median {hello[0].median * 1000:.1f} ms, "
              f"min {hello[0].minimum * 1000:.1f} ms ({args.hello_runs} runs)")

    if not args.no_markdown:
        section = markdown_section(command, date, info, args.runs, results, labels, hello,
                                   args.hello_runs, skipped)
        markdown = args.markdown if args.markdown.is_absolute() else Path.cwd() / args.markdown
        write_markdown(markdown, section)
        print(f"wrote {markdown}")
    if not ok:
        loud("SOME RUNS FAILED OR PRINTED THE WRONG OUTPUT (see above): exit status 1")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
