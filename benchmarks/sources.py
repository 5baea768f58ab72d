"""Benchmarks of the metric sources, one function per source.

1. W&B offline log (`.wandb`): a run of 100,000 history rows written by the real wandb SDK
   offline (in a subprocess: `train/loss`, `lr`, `grad_norm` every step, `eval/loss` every
   50), then read whole from the local file several times. Prints the median rows/s, the
   baseline of decoding each row on its own (`batched=False`) measured in the same run,
   and peak RSS. Target: >= 200,000 rows/s.
2. W&B API: a run of 100,000 steps (the same keys) served by the W&B stand-in
   (tests/servers/wandb_server.py, in a subprocess) and read whole through the real SDK by
   `WandbApiSource`: 1,000-step pages, one scan for the every-step keys, one for eval.
   Prints rows/s and peak RSS (the reader's: wandb-core is a process of its own).
3. SFTP: the same kind of `.wandb` file read by `LogSource` over `SSHTransport` from the
   loopback OpenSSH server of the tests (tests/servers/sshd.py). (a) whole first reads:
   rows/s and bytes transferred vs the file size; (b) an incremental read after the file
   grew in place (its first half written, read, then the rest appended): the new bytes
   past the cursor vs the bytes transferred (~1: the new bytes plus the 4 KiB identity
   check). Prints peak RSS (the reader's: sshd is a process of its own).

Run: `.venv/bin/python benchmarks/sources.py [--quick]` (quick: smaller, for CI).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from training_check.model import History
from training_check.sources.rows import HistoryBuilder
from training_check.sources.wandb_file import WandbFileParser

# Runs in a subprocess: the SDK patches stdout and starts wandb-core, neither wanted here.
WANDB_LOOP = textwrap.dedent(
    """
    import math, sys, wandb
    rows, folder = int(sys.argv[1]), sys.argv[2]
    run = wandb.init(project="benchmark", dir=folder)
    for step in range(rows):
        row = {"train/loss": 2.0 + 8.0 * math.exp(-step / 5000), "lr": 3e-4 * math.cos(step / rows),
               "grad_norm": 1.0 + (step % 7) / 10}
        if step % 50 == 0:
            row["eval/loss"] = row["train/loss"] + 0.1
        run.log(row, step=step)
    run.finish()
    wandb.teardown()
    """
)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_wandb_run(folder: Path, rows: int) -> Path:
    """A `.wandb` file of `rows` history rows, written by the real SDK offline."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    subprocess.run([sys.executable, "-c", WANDB_LOOP, str(rows), str(folder)], env=env, check=True)
    return next(folder.glob("wandb/offline-run-*/run-*.wandb"))


def parse_seconds(path: Path, batched: bool) -> float:
    """Wall time of one whole read of `path`."""
    builder = HistoryBuilder("record")
    start = time.perf_counter()
    with path.open("rb") as file:
        WandbFileParser(str(path), batched=batched).parse(file, 0, builder)
    return time.perf_counter() - start


def bench_wandb_file(rows: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = write_wandb_run(Path(tmp), rows)
        made = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6
        rss_before = peak_rss_mb()
        batched = [parse_seconds(path, batched=True) for _ in range(repeats)]
        one_by_one = [parse_seconds(path, batched=False) for _ in range(max(3, repeats // 3))]
    fast, slow = statistics.median(batched), statistics.median(one_by_one)
    print(
        f".wandb {rows:,} rows ({size_mb:.1f} MB, written by the SDK in {made:.0f} s): "
        f"median {rows / fast:,.0f} rows/s over {repeats} reads (best {rows / min(batched):,.0f}); "
        f"one row at a time {rows / slow:,.0f} rows/s (x{slow / fast:.2f}); "
        f"peak RSS {peak_rss_mb():.0f} MB ({rss_before:.0f} MB before reading)  [target >= 200,000 rows/s]"
    )


# --- 2. W&B API through the stand-in ----------------------------------------------------

# Runs in a subprocess, so the peak RSS measured here is the reader's, not the server's.
STAND_IN = textwrap.dedent(
    """
    import math, sys
    sys.path.insert(0, sys.argv[2])
    from servers.wandb_server import WandbStandIn
    rows = int(sys.argv[1])
    with WandbStandIn() as server:
        server.add_run("bench", "proj", "run1", (
            {"_step": step, "train/loss": 2.0 + 8.0 * math.exp(-step / 5000), "lr": 3e-4,
             "grad_norm": 1.0 + (step % 7) / 10, **({"eval/loss": 2.1} if step % 50 == 0 else {})}
            for step in range(rows)))
        print(server.base_url, flush=True)
        sys.stdin.read()  # serve until the benchmark closes our stdin
    """
)


def read_through_sdk(base_url: str, folder: str) -> tuple[History, float]:
    """One whole fetch of the run by `WandbApiSource`, the SDK's files kept in `folder`."""
    from training_check.sources.wandb_api import WandbApiSource, api_factory  # noqa: PLC0415

    saved = dict(os.environ)
    os.environ.update({f"WANDB_{name}": folder for name in ("DIR", "CONFIG_DIR", "CACHE_DIR", "DATA_DIR")})
    try:
        source = WandbApiSource("bench/proj/run1", api_factory(base_url, "bench-" + "k" * 40), deadline=60)
        start = time.perf_counter()
        history = source.fetch(None).new
        return history, time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(saved)


def bench_wandb_api(rows: int) -> None:
    """Read a run of `rows` steps whole through the real SDK from the W&B stand-in."""
    import wandb  # noqa: PLC0415, F401  (imported first: its memory is not the reading's)

    tests = Path(__file__).resolve().parent.parent / "tests"
    command = [sys.executable, "-c", STAND_IN, str(rows), str(tests)]
    with (
        tempfile.TemporaryDirectory() as tmp,
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as server,
    ):
        assert server.stdout is not None and server.stdin is not None
        base_url = server.stdout.readline().strip()
        rss_before = peak_rss_mb()
        history, took = read_through_sdk(base_url, tmp)
        server.stdin.close()
    points = sum(len(series) for series in history.series.values())
    print(
        f"W&B API {rows:,} steps through the stand-in: {rows / took:,.0f} rows/s "
        f"({took:.1f} s for the first fetch, {points:,} values in {len(history.series)} series); "
        f"peak RSS {peak_rss_mb():.0f} MB ({rss_before:.0f} MB before reading)"
    )


# --- 3. the .wandb file over SFTP ------------------------------------------------------


def rows_in(history: History) -> int:
    """Rows of a history: the length of its longest series (`train/loss` is in every row)."""
    return max((len(series) for series in history.series.values()), default=0)


def bench_sftp(rows: int, repeats: int) -> None:
    """Read a `.wandb` file of `rows` rows over SFTP: whole, then only what was appended."""
    tests = str(Path(__file__).resolve().parent.parent / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from servers.sshd import SSHServer, make_key  # noqa: PLC0415
    from training_check.sources.log_source import LogSource  # noqa: PLC0415
    from training_check.transport.ssh import SSHTransport  # noqa: PLC0415

    key = make_key()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = write_wandb_run(folder / "sdk", rows).read_bytes()
        whole, growing = folder / "whole.wandb", folder / "growing.wandb"
        whole.write_bytes(data)
        server = SSHServer(folder / "sshd", [key.public])
        server.start()
        try:
            host = server.host("bench")
            with SSHTransport(host, {host.name: host}, server.environ(key)) as transport:
                transport.sftp()  # connect and log in before timing
                rss_before = peak_rss_mb()
                reads = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    first = LogSource(whole, transport).fetch(None)
                    reads.append(time.perf_counter() - start)
                half = len(data) // 2
                growing.write_bytes(data[:half])
                source = LogSource(growing, transport)
                one = source.fetch(None)
                with growing.open("ab") as file:  # grows in place: the same inode
                    file.write(data[half:])
                start = time.perf_counter()
                two = source.fetch(one.cursor)
                took = time.perf_counter() - start
        finally:
            server.stop()
    took_whole, size = statistics.median(reads), len(data)
    got, new, sent = rows_in(first.new), size - one.cursor.offset, two.transferred_bytes
    print(
        f"SFTP .wandb {got:,} rows ({size / 1e6:.1f} MB) over loopback sshd: median {got / took_whole:,.0f} rows/s "
        f"over {repeats} whole reads ({took_whole:.2f} s), {first.transferred_bytes:,} bytes transferred for "
        f"{size:,} in the file (x{first.transferred_bytes / size:.3f})"
    )
    print(
        f"SFTP .wandb grown in place {half:,} -> {size:,} bytes: first read {rows_in(one.new):,} rows to offset "
        f"{one.cursor.offset:,}; incremental read {rows_in(two.new):,} rows in {took:.2f} s, {new:,} new bytes past "
        f"the cursor ({size - half:,} appended), {sent:,} transferred (x{sent / new:.4f}"
        f"{', reset!' if two.reset else ''}); peak RSS {peak_rss_mb():.0f} MB ({rss_before:.0f} MB before reading)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} "
          f"{platform.python_version()}")  # fmt: skip
    if args.quick:
        bench_wandb_file(2_000, 3)
        bench_wandb_api(2_000)
        bench_sftp(2_000, 1)
    else:
        bench_wandb_file(100_000, 9)
        bench_wandb_api(100_000)
        bench_sftp(100_000, 3)


if __name__ == "__main__":
    main()
