"""read_history on real files: each format, each malformed input, and the builder's rules."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from training_check.model import History
from training_check.sources import SourceError, read_history
from training_check.sources.incremental import SNIFF_BYTES, format_by_extension, sniff_format
from training_check.sources.rows import HistoryBuilder

NAN = math.nan
INF = math.inf


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def points(history: History, name: str) -> tuple[list[int], list[float]]:
    series = history.series[name]
    assert series.steps.dtype == np.int64
    assert series.values.dtype == np.float64
    return series.steps.tolist(), series.values.tolist()


def same(actual: list[float], expected: list[float]) -> bool:
    """Equal lists, NaN equal to NaN."""
    return len(actual) == len(expected) and all(
        a == e or (math.isnan(a) and math.isnan(e)) for a, e in zip(actual, expected, strict=True)
    )


def format_of(path: Path) -> str:
    """The format a read of `path` detects: the extension's, else the first bytes'."""
    return format_by_extension(str(path)) or sniff_format(path.read_bytes()[:SNIFF_BYTES])


def fails(path: Path, fmt: str | None = None) -> SourceError:
    with pytest.raises(SourceError) as caught:
        read_history(path, fmt)
    return caught.value


# --- JSON lines ---------------------------------------------------------------------

HISTOGRAM = {"_type": "histogram", "values": [1, 2], "bins": [0, 1, 2]}
WANDB_ROWS = [  # json.dumps writes NaN, Infinity and -Infinity bare, as W&B exports do
    {"train/loss": 2.5, "train/lr": 0.0003, "_wandb": {"runtime": 1}},
    {"train/loss": NAN, "train/lr": 0.0003, "media": {"_type": "image-file", "path": "a.png"}},
    {"train/loss": INF, "grads": HISTOGRAM},
    {"train/loss": -INF, "note": "warmup done", "flag": True},
    {"train/loss": "NaN", "eval/loss": "2.75"},
    {"train/loss": "inf", "eval/loss": None},
]


def test_jsonl_wandb_history(tmp_path: Path) -> None:
    text = "".join(
        json.dumps({"_step": i, "_runtime": i + 1.5, "_timestamp": 1700000000.25 + i, **row}) + "\n"
        for i, row in enumerate(WANDB_ROWS)
    )
    assert "NaN" in text
    assert "-Infinity" in text
    history = read_history(write(tmp_path, "history.jsonl", text))
    assert (history.rows_read, history.rows_skipped, history.skip_reasons) == (6, 0, ())
    assert list(history.series) == ["_runtime", "_timestamp", "train/loss", "train/lr", "eval/loss"]
    steps, losses = points(history, "train/loss")
    assert steps == [0, 1, 2, 3, 4, 5]
    assert same(losses, [2.5, NAN, INF, -INF, NAN, INF])
    assert points(history, "train/lr") == ([0, 1], [0.0003, 0.0003])
    assert points(history, "eval/loss") == ([4], [2.75])
    assert points(history, "_runtime")[1] == [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]
    assert points(history, "_timestamp")[1][0] == 1700000000.25


@pytest.mark.parametrize("text", ["NaN", "nan", "-nan", "+nan", "NAN", " nan "], ids=lambda text: text.strip())
def test_jsonl_nan_strings(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "a.jsonl", json.dumps({"step": 1, "loss": text}) + "\n")
    assert math.isnan(points(read_history(path), "loss")[1][0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Infinity", INF),
        ("-Infinity", -INF),
        ("inf", INF),
        ("-inf", -INF),
        ("+inf", INF),
        ("INF", INF),
        ("1e-3", 0.001),
        (" 2.5 ", 2.5),
    ],
)
def test_jsonl_number_strings(tmp_path: Path, text: str, expected: float) -> None:
    path = write(tmp_path, "a.jsonl", json.dumps({"step": 1, "loss": text}) + "\n")
    assert points(read_history(path), "loss") == ([1], [expected])


@pytest.mark.parametrize(
    "key", ["step", "global_step", "trainer/global_step", "train/global_step", "iteration", "iter"]
)
def test_jsonl_step_keys(tmp_path: Path, key: str) -> None:
    rows = "".join(json.dumps({key: 10 * i, "loss": 1.0 / (i + 1)}) + "\n" for i in range(3))
    history = read_history(write(tmp_path, "a.jsonl", rows))
    assert points(history, "loss") == ([0, 10, 20], [1.0, 0.5, 1.0 / 3])
    assert list(history.series) == ["loss"]


def test_jsonl_prefers_wandb_step_and_keeps_other_step_keys(tmp_path: Path) -> None:
    row = {"trainer/global_step": 500, "_step": 7, "step": 9, "loss": 1.0}
    history = read_history(write(tmp_path, "a.jsonl", json.dumps(row) + "\n"))
    assert points(history, "loss") == ([7], [1.0])
    assert points(history, "trainer/global_step") == ([7], [500.0])
    assert points(history, "step") == ([7], [9.0])


def test_jsonl_without_steps_gets_implicit_steps(tmp_path: Path) -> None:
    rows = '{"loss": 3.0}\n{"loss": 2.0}\n{"note": "no metric here"}\n{"loss": 1.0}\n'
    history = read_history(write(tmp_path, "a.ndjson", rows))
    assert points(history, "loss") == ([0, 1, 2], [3.0, 2.0, 1.0])
    assert (history.rows_read, history.rows_skipped) == (3, 0)


def test_jsonl_bad_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    rows = "\n".join(
        [
            '{"step": 0, "loss": 4.0}',
            '{"step": 1, "loss": ',  # not JSON
            "not json at all",  # not JSON
            "[1, 2, 3]",  # not an object
            "42",  # not an object
            '{"step": 12.5, "loss": 1.0}',  # step not whole
            '{"step": "abc", "loss": 1.0}',  # step not a number
            '{"step": NaN, "loss": 1.0}',  # step NaN
            '{"step": 12.0, "loss": 3.0}',  # a whole float is fine
            "[" * 100_000,  # deep nesting: json raises RecursionError
            '{"step": 13, "loss": 2.0, "tag": "x"}',
        ]
    )
    history = read_history(write(tmp_path, "a.jsonl", rows + "\n"))
    assert points(history, "loss") == ([0, 12, 13], [4.0, 3.0, 2.0])
    assert history.rows_read == 3
    assert history.rows_skipped == 8
    assert history.skip_reasons == (
        """3 lines: not valid JSON (first at line 2: '{"step": 1, "loss":')""",
        "2 lines: not a JSON object (first at line 4: '[1, 2, 3]')",
        "3 lines: step is not a whole number (first at line 6: step=12.5)",
    )


def test_negative_steps_are_skipped(tmp_path: Path) -> None:
    rows = '{"step": 0, "loss": 2.0}\n{"step": -5, "loss": 9.0}\n{"step": -1, "loss": 9.0}\n'
    rows += '{"step": 1, "loss": 1.0}\n'
    history = read_history(write(tmp_path, "a.jsonl", rows))
    assert points(history, "loss") == ([0, 1], [2.0, 1.0])
    assert (history.rows_read, history.rows_skipped) == (2, 2)
    assert history.skip_reasons == ("2 lines: negative step (first at line 2: -5)",)


def test_duplicate_steps_keep_the_later_value(tmp_path: Path) -> None:
    rows = [
        {"step": 0, "loss": 5.0, "lr": 0.1},
        {"step": 1, "loss": 4.0, "lr": 0.1},
        {"step": 2, "loss": 3.0},
        {"step": 1, "loss": 4.5},  # a resumed run logs step 1 again
        {"step": 2, "loss": 3.5, "lr": 0.2},
        {"step": 2, "loss": 3.5},  # the same value again is no conflict
        {"step": 3, "loss": 2.0},
    ]
    text = "".join(json.dumps(row) + "\n" for row in rows)
    history = read_history(write(tmp_path, "a.jsonl", text))
    assert points(history, "loss") == ([0, 1, 2, 3], [5.0, 4.5, 3.5, 2.0])
    assert points(history, "lr") == ([0, 1, 2], [0.1, 0.1, 0.2])
    assert (history.rows_read, history.rows_skipped) == (7, 0)
    assert history.skip_reasons == (
        "2 duplicate steps, the later value kept",
        "1 line out of step order, sorted",
    )


def test_out_of_order_steps_are_sorted(tmp_path: Path) -> None:
    steps = [0, 3, 1, 4, 2, 5]
    text = "".join(json.dumps({"step": s, "loss": float(s)}) + "\n" for s in steps)
    history = read_history(write(tmp_path, "a.jsonl", text))
    assert points(history, "loss") == ([0, 1, 2, 3, 4, 5], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    assert history.skip_reasons == ("2 lines out of step order, sorted",)


def test_truncated_last_line_is_counted_as_incomplete(tmp_path: Path) -> None:
    text = '{"step": 0, "loss": 2.0}\n{"step": 1, "loss": 1.5}\n{"step": 2, "lo'
    history = read_history(write(tmp_path, "a.jsonl", text))
    assert points(history, "loss") == ([0, 1], [2.0, 1.5])
    assert (history.rows_read, history.rows_skipped) == (2, 1)
    assert history.skip_reasons == ("1 line: incomplete last line (still being written?) (at line 3)",)


def test_last_line_without_newline_that_parses_is_kept(tmp_path: Path) -> None:
    text = '{"step": 0, "loss": 2.0}\n{"step": 1, "loss": 1.5}'
    history = read_history(write(tmp_path, "a.jsonl", text))
    assert points(history, "loss") == ([0, 1], [2.0, 1.5])
    assert history.skip_reasons == ()


def test_last_line_cut_inside_a_utf8_character(tmp_path: Path) -> None:
    text = '{"step": 0, "loss": 2.0}\n{"step": 1, "note": "\u00e9'.encode()[:-1]
    history = read_history(write(tmp_path, "a.jsonl", text))
    assert history.rows_skipped == 1
    assert history.skip_reasons == ("1 line: incomplete last line (still being written?) (at line 2)",)


def test_large_jsonl_file(tmp_path: Path) -> None:
    n = 200_000
    path = tmp_path / "big.jsonl"
    with path.open("w") as file:
        for i in range(n):
            file.write(f'{{"_step": {i}, "loss": {1.0 / (i + 1)!r}, "lr": 0.001}}\n')
    history = read_history(path)
    assert (history.rows_read, history.rows_skipped, history.skip_reasons) == (n, 0, ())
    loss = history.series["loss"]
    np.testing.assert_array_equal(loss.steps, np.arange(n, dtype=np.int64))
    np.testing.assert_array_equal(loss.values, 1.0 / (np.arange(n) + 1.0))
    assert history.series["lr"].values.sum() == pytest.approx(0.001 * n)
    assert history.last_step == n - 1


# --- CSV ----------------------------------------------------------------------------

LIGHTNING_CSV = """\
epoch,step,lr-AdamW,train_loss_step,val_loss,train_loss_epoch
0,0,0.001,2.5,,
0,49,0.001,2.1,,
0,49,,,2.3,
0,49,,,,2.2
1,99,0.0005,nan,,
1,99,,,inf,
"""


def test_csv_lightning_metrics(tmp_path: Path) -> None:
    history = read_history(write(tmp_path, "metrics.csv", LIGHTNING_CSV))
    assert (history.rows_read, history.rows_skipped, history.skip_reasons) == (6, 0, ())
    assert list(history.series) == ["epoch", "lr-AdamW", "train_loss_step", "val_loss", "train_loss_epoch"]
    steps, losses = points(history, "train_loss_step")
    assert steps == [0, 49, 99]
    assert same(losses, [2.5, 2.1, NAN])
    assert points(history, "val_loss") == ([49, 99], [2.3, INF])
    assert points(history, "train_loss_epoch") == ([49], [2.2])
    assert points(history, "epoch") == ([0, 49, 99], [0.0, 0.0, 1.0])


def test_csv_every_nan_and_infinity_spelling(tmp_path: Path) -> None:
    spellings = ["NaN", "nan", "-nan", "Infinity", "-Infinity", "inf", "-inf", "+inf", "INF"]
    rows = "".join(f"{i},{text}\n" for i, text in enumerate(spellings))
    history = read_history(write(tmp_path, "a.csv", "step,loss\n" + rows + "9, 1e-3 \n"))
    steps, values = points(history, "loss")
    assert steps == list(range(10))
    assert same(values, [NAN, NAN, NAN, INF, -INF, INF, -INF, INF, INF, 0.001])


def test_csv_bad_cells_and_rows(tmp_path: Path) -> None:
    text = """\
step,loss,lr,note
0,2.0,0.1,
1,abc,0.1,
2,1.5,n/a,
3,1.4
4,1.3,0.1,,extra
five,1.2,0.1,
-1,1.1,0.1,
6,1.0,0.1,
"""
    history = read_history(write(tmp_path, "a.csv", text))
    assert points(history, "loss") == ([0, 2, 6], [2.0, 1.5, 1.0])
    assert points(history, "lr") == ([0, 1, 6], [0.1, 0.1, 0.1])
    assert (history.rows_read, history.rows_skipped) == (4, 4)
    assert history.skip_reasons == (
        "2 values: not a number (first at line 3: loss='abc')",
        "2 lines: wrong number of cells (first at line 5: 2, header has 4)",
        "1 line: step is not a whole number (at line 7: 'five')",
        "1 line: negative step (at line 8: -1)",
    )


def test_csv_without_step_column_uses_implicit_steps(tmp_path: Path) -> None:
    text = '"loss","accuracy"\r\n3.0,0.1\r\n2.0,0.2\r\n\r\n1.0,0.3\r\n'
    history = read_history(write(tmp_path, "a.csv", text))
    assert points(history, "loss") == ([0, 1, 2], [3.0, 2.0, 1.0])
    assert points(history, "accuracy") == ([0, 1, 2], [0.1, 0.2, 0.3])


def test_csv_header_only(tmp_path: Path) -> None:
    error = fails(write(tmp_path, "a.csv", "epoch,step,train_loss\n"))
    assert str(error) == f"{tmp_path / 'a.csv'} has a header but no data rows"
    assert error.tip


def test_csv_without_a_header(tmp_path: Path) -> None:
    error = fails(write(tmp_path, "a.csv", "0,2.5\n1,2.4\n"))
    assert str(error) == f"{tmp_path / 'a.csv'}: the first row is numbers, not a header"


def test_csv_truncated_last_row(tmp_path: Path) -> None:
    history = read_history(write(tmp_path, "a.csv", "step,loss,lr\n0,2.0,0.1\n1,1.9"))
    assert points(history, "loss") == ([0], [2.0])
    assert history.skip_reasons == ("1 line: incomplete last line (still being written?) (at line 3)",)


# --- plain-text logs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "step", "expected"),
    [
        ("step 120 loss=2.31 lr=3e-4", 120, {"loss": 2.31, "lr": 3e-4}),
        ("Epoch 3 | step 1200 | loss 2.310", 1200, {"Epoch": 3.0, "loss": 2.31}),
        ("[step 500/10000] train_loss: 2.1 grad_norm: 0.9", 500, {"train_loss": 2.1, "grad_norm": 0.9}),
        ("iter 40: loss 3.1, time 20ms", 40, {"loss": 3.1, "time": 20.0}),
        ("iter 40: loss 3.1000, time 20.12ms, mfu 30.00%", 40, {"loss": 3.1, "time": 20.12, "mfu": 30.0}),
        ("global_step=7 loss=1.5", 7, {"loss": 1.5}),
        ("iteration: 9, loss = 0.5, accuracy: 0.75", 9, {"loss": 0.5, "accuracy": 0.75}),
        ("2024-05-01 12:00:03,120 - INFO - step 5 loss=2.3", 5, {"loss": 2.3}),
        ("\x1b[32mINFO\x1b[0m step 6 loss=2.2", 6, {"loss": 2.2}),
        ("step 8 loss: tensor(1.25, device='cuda:0')", 8, {"loss": 1.25}),
        ("step 3 loss=nan grad_norm=inf lr=-inf", 3, {"loss": NAN, "grad_norm": INF, "lr": -INF}),
        ("step 4 loss=NaN grad_norm=Infinity lr=+inf", 4, {"loss": NAN, "grad_norm": INF, "lr": INF}),
        ("step 5 loss=-nan grad_norm=INF", 5, {"loss": NAN, "grad_norm": INF}),
        (
            "100/100 [=====] - 2s 20ms/step - loss: 0.5123 - accuracy: 0.8123 - val_loss: 0.6",
            0,
            {"loss": 0.5123, "accuracy": 0.8123, "val_loss": 0.6},
        ),
        (
            "| epoch   1 |   200/ 2983 batches | lr 20.00 | ms/batch 13.52 | loss  7.63 | ppl  2063.50",
            0,
            {"epoch": 1.0, "lr": 20.0, "ms/batch": 13.52, "loss": 7.63, "ppl": 2063.5},
        ),
    ],
)
def test_text_line_styles(tmp_path: Path, line: str, step: int, expected: dict[str, float]) -> None:
    history = read_history(write(tmp_path, "train.log", line + "\n"))
    assert list(history.series) == list(expected)
    for name, value in expected.items():
        steps, values = points(history, name)
        assert steps == [step]
        assert same(values, [value])
    assert (history.rows_read, history.rows_skipped, history.skip_reasons) == (1, 0, ())


HF_LOG = """\
[INFO|trainer.py:2128] 2024-05-01 12:00:00,000 >> ***** Running training *****
[INFO|trainer.py:2129] 2024-05-01 12:00:00,000 >>   Num examples = 1,000
[INFO|trainer.py:2130] 2024-05-01 12:00:00,000 >>   Num Epochs = 3
[INFO|trainer.py:2134] 2024-05-01 12:00:00,000 >>   Total optimization steps = 375
  0%|          | 0/375 [00:00<?, ?it/s]\r  1%|          | 3/375 [00:01<02:04,  2.98it/s]
{'loss': 2.31, 'grad_norm': 1.2, 'learning_rate': 3e-05, 'epoch': 0.5}
 13%|█▎        | 50/375 [00:17<01:50,  2.95it/s]
{'loss': nan, 'grad_norm': inf, 'learning_rate': 2e-05, 'epoch': 1.0}
{'eval_loss': 2.5, 'eval_runtime': 3.1, 'eval_samples_per_second': 32.2, 'epoch': 1.0}
torch/optim/lr_scheduler.py:143: UserWarning: Detected call of `lr_scheduler.step()` first.
  warnings.warn("Detected call of `lr_scheduler.step()` before `optimizer.step()`. ")
{'loss': -inf, 'grad_norm': NaN, 'learning_rate': 1e-05, 'epoch': 1.5}
{'eval_loss': 2.25, 'eval_runtime': 3.0, 'epoch': 1.5}
{'train_runtime': 100.1, 'train_samples_per_second': 3.2, 'train_loss': 2.2, 'epoch': 1.5}
Traceback (most recent call last):
  File "train.py", line 10, in <module>
RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB
"""


def test_text_hugging_face_trainer_log(tmp_path: Path) -> None:
    history = read_history(write(tmp_path, "train.out", HF_LOG))
    assert list(history.series) == [
        "loss", "grad_norm", "learning_rate", "epoch", "eval_loss", "eval_runtime",
        "eval_samples_per_second",
    ]  # fmt: skip
    steps, losses = points(history, "loss")
    assert steps == [0, 1, 2]
    assert same(losses, [2.31, NAN, -INF])
    assert same(points(history, "grad_norm")[1], [1.2, INF, NAN])
    # Eval lines carry no step: they belong to the training step they followed.
    assert points(history, "eval_loss") == ([1, 2], [2.5, 2.25])
    assert points(history, "epoch") == ([0, 1, 2], [0.5, 1.0, 1.5])
    # Banners, progress bars, warnings and the traceback are not skipped rows.
    assert (history.rows_read, history.rows_skipped, history.skip_reasons) == (5, 0, ())


def test_text_garbage_values_are_counted(tmp_path: Path) -> None:
    text = """\
step 1 loss=2.0 lr=0.1
step 2 loss=abc lr=0.1
loss=oops
step 3 loss=1.8 lr=0.1 device=cuda
step 4.5 loss=1.7
step 5 loss=1.6 model='gpt2'
"""
    history = read_history(write(tmp_path, "train.log", text))
    assert points(history, "loss") == ([1, 3, 5], [2.0, 1.8, 1.6])
    assert points(history, "lr") == ([1, 2, 3], [0.1, 0.1, 0.1])
    assert (history.rows_read, history.rows_skipped) == (4, 1)
    assert history.skip_reasons == (
        "2 values: not a number (first at line 2: loss='abc')",
        "1 line: step is not a whole number (at line 5: step 4.5)",
    )


def test_text_negative_duplicate_and_unordered_steps(tmp_path: Path) -> None:
    text = "step 0 loss=3\nstep -5 loss=9\nstep 2 loss=2\nstep 1 loss=2.5\nstep 2 loss=1.9\n"
    history = read_history(write(tmp_path, "train.log", text))
    assert points(history, "loss") == ([0, 1, 2], [3.0, 2.5, 1.9])
    assert (history.rows_read, history.rows_skipped) == (4, 1)
    assert history.skip_reasons == (
        "1 line: negative step (at line 2: -5)",
        "1 duplicate step, the later value kept",
        "1 line out of step order, sorted",
    )


def test_text_lines_that_are_not_metrics(tmp_path: Path) -> None:
    text = """\
Loading checkpoint shards: 100%|██████████| 2/2 [00:03<00:00,  1.52s/it]
Trainable params: 124 M
Total estimated model params size (MB): 497
INFO: Starting training
  File "train.py", line 10, in <module>
Saving checkpoint at step 500
step 500 loss=2.0
"""
    history = read_history(write(tmp_path, "train.log", text))
    assert list(history.series) == ["loss"]
    assert (history.rows_read, history.rows_skipped, history.skip_reasons) == (1, 0, ())


def test_text_tqdm_carriage_returns_keep_the_last_state(tmp_path: Path) -> None:
    line = "Epoch 0:  10%| | 1/10 [00:01, loss=3.0]\rEpoch 0:  20%| | 2/10 [00:02, loss=2.5]\n"
    history = read_history(write(tmp_path, "train.log", line))
    assert points(history, "loss") == ([0], [2.5])


# --- files that cannot be read ------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "a.jsonl"
    error = fails(path)
    assert str(error) == f"{path}: no such file"
    assert error.message == str(error)


def test_missing_file_with_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "metrics"
    assert str(fails(path)) == f"{path}: no such file"


def test_directory(tmp_path: Path) -> None:
    error = fails(tmp_path)
    assert str(error) == f"{tmp_path} is a directory"
    assert error.tip is not None
    assert str(fails(tmp_path, "jsonl")) == f"{tmp_path} is a directory"


@pytest.mark.parametrize("name", ["a.jsonl", "a.csv", "a.log", "a.metrics"])
@pytest.mark.parametrize("content", ["", "   \n\n\t \r\n  "], ids=["zero-bytes", "whitespace"])
def test_empty_files(tmp_path: Path, name: str, content: str) -> None:
    path = write(tmp_path, name, content)
    error = fails(path)
    assert str(error) == f"{path} is empty"
    assert error.tip


def test_binary_garbage(tmp_path: Path) -> None:
    data = random.Random(1234).randbytes(64 * 1024)
    path = write(tmp_path, "x.bin", data)
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    error = fails(path)
    message = str(error)
    assert message.startswith(f"{path}: no metric rows found in {lines} lines (first problem, line ")
    assert "not valid UTF-8 text" in message
    assert message.isprintable()
    assert len(message) < len(str(path)) + 120


def test_binary_garbage_in_a_jsonl_file(tmp_path: Path) -> None:
    path = write(tmp_path, "a.jsonl", b"\x00\x01garbage\xff\xfe\n" + b"\x00\x00\x00\n")
    message = str(fails(path))
    assert message == (f"{path}: no metric rows found in 2 lines (first problem, line 1: not valid UTF-8 text)")


def test_nothing_readable_quotes_the_first_problem(tmp_path: Path) -> None:
    long_line = '{"loss": ' + "9" * 500 + "\x00" * 100
    path = write(tmp_path, "a.jsonl", "\n" + long_line + "\n[1]\n")
    message = str(fails(path))
    assert message.startswith(f"{path}: no metric rows found in 3 lines (first problem, line 2: ")
    assert 'not valid JSON (\'{"loss": 9999' in message
    assert message.endswith("…))")
    assert len(message) < len(str(path)) + 140


def test_text_log_without_any_metric(tmp_path: Path) -> None:
    path = write(tmp_path, "train.log", "Starting\nLoading data\nDone\n")
    error = fails(path)
    assert str(error) == f"{path}: no metric rows found in 3 lines (no line held metrics)"
    assert error.tip is not None


def test_text_log_with_only_garbage_values(tmp_path: Path) -> None:
    path = write(tmp_path, "train.log", "loss=abc\nloss=def\n")
    assert str(fails(path)) == (
        f"{path}: no metric rows found in 2 lines (first problem, line 1: not a number (loss='abc'))"
    )


def test_utf16_file(tmp_path: Path) -> None:
    path = write(tmp_path, "train.log", "step 1 loss=2.0\n".encode("utf-16"))
    error = fails(path)
    assert str(error) == f"{path} is UTF-16 text; only UTF-8 can be read"
    assert error.tip is not None
    assert "iconv" in error.tip


def test_unknown_format(tmp_path: Path) -> None:
    path = write(tmp_path, "a.jsonl", '{"loss": 1}\n')
    error = fails(path, "parquet")
    assert str(error) == "unknown format 'parquet'"
    assert error.tip == "use one of: jsonl, csv, text, wandb"


def test_huge_single_line_is_skipped_in_pieces(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    with path.open("wb") as file:
        file.write(b'{"step": 0, "loss": 2.0}\n{"step": 1, "blob": "')
        chunk = b"x" * (1 << 20)
        for _ in range(50):  # a 50 MB line, never held whole by the reader either
            file.write(chunk)
        file.write(b'"}\n{"step": 2, "loss": 1.0}\n')
    history = read_history(path)
    assert points(history, "loss") == ([0, 2], [2.0, 1.0])
    assert (history.rows_read, history.rows_skipped) == (2, 1)
    assert history.skip_reasons == ("1 line: longer than 1 MiB (at line 2)",)


def test_line_just_under_the_limit_is_read(tmp_path: Path) -> None:
    prefix = '{"step": 0, "loss": 2.0, "blob": "'
    line = prefix + "x" * ((1 << 20) - len(prefix) - 3) + '"}\n'
    assert len(line) == 1 << 20
    history = read_history(write(tmp_path, "a.jsonl", line))
    assert points(history, "loss") == ([0], [2.0])


def test_huge_last_line_without_newline(tmp_path: Path) -> None:
    content = b'{"step": 0, "loss": 2.0}\n' + b"y" * (3 << 20)
    history = read_history(write(tmp_path, "a.jsonl", content))
    assert points(history, "loss") == ([0], [2.0])
    assert history.skip_reasons == ("1 line: longer than 1 MiB (at line 2)",)


# --- choosing the format ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.JSON", "jsonl"),
        ("metrics.csv", "csv"),
        ("train.log", "text"),
        ("train.txt", "text"),
        ("slurm-123.out", "text"),
    ],
)
def test_format_from_extension(tmp_path: Path, name: str, fmt: str) -> None:
    # The extension decides without looking inside: the file need not even exist.
    assert format_of(tmp_path / name) == fmt


@pytest.mark.parametrize(
    ("content", "fmt"),
    [
        ('\n\n  {"_step": 0, "loss": 1.0}\n', "jsonl"),
        ('\ufeff{ "loss": 1.0}\n', "jsonl"),
        ("epoch,step,train_loss\n0,0,2.0\n", "csv"),
        ('"Step","Loss"\n0,2.0\n', "csv"),
        ("loss,accuracy\n2.0,0.1\n", "text"),  # no step-ish column: nothing says CSV
        ("{'loss': 2.31, 'epoch': 0.5}\n", "text"),  # HF prints Python dicts, not JSON
        ("step 1 loss=2.0\n", "text"),
        ("", "text"),
    ],
)
def test_format_sniffed_without_extension(tmp_path: Path, content: str, fmt: str) -> None:
    assert format_of(write(tmp_path, "metrics", content)) == fmt


def test_sniffed_files_are_read(tmp_path: Path) -> None:
    jsonl = read_history(write(tmp_path, "history", '{"_step": 3, "loss": 1.0}\n'))
    csv_ = read_history(write(tmp_path, "metrics.dat", "step,loss\n4,2.0\n"))
    text = read_history(write(tmp_path, "stdout", "step 5 loss=3.0\n"))
    assert points(jsonl, "loss") == ([3], [1.0])
    assert points(csv_, "loss") == ([4], [2.0])
    assert points(text, "loss") == ([5], [3.0])


def test_explicit_format_overrides_the_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "metrics.txt", "step,loss\n0,2.0\n1,1.5\n")
    assert points(read_history(path, "csv"), "loss") == ([0, 1], [2.0, 1.5])
    assert points(read_history(str(path), fmt="csv"), "loss") == ([0, 1], [2.0, 1.5])


# --- the builder's rules ------------------------------------------------------------


def test_builder_implicit_steps_follow_the_previous_step() -> None:
    builder = HistoryBuilder()
    builder.add(None, {"loss": 1.0})
    builder.add(10, {"loss": 2.0})
    builder.add(None, {"loss": 3.0})
    builder.add(None, {})  # a row with no metric neither counts nor moves the step
    builder.add(None, {"loss": 4.0})
    history = builder.build()
    assert points(history, "loss") == ([0, 10, 11, 12], [1.0, 2.0, 3.0, 4.0])
    assert (history.rows_read, builder.ignored) == (4, 1)


def test_builder_refuses_steps_out_of_range() -> None:
    builder = HistoryBuilder(unit="row")
    builder.add(2**63, {"loss": 1.0})
    builder.add(None, {"loss": 2.0})
    history = builder.build()
    assert points(history, "loss") == ([0], [2.0])
    assert history.skip_reasons == (f"1 row: step out of range ({2**63})",)


def test_builder_keeps_at_most_ten_reasons() -> None:
    builder = HistoryBuilder()
    for kind in range(15):
        for _ in range(kind + 1):
            builder.skip(f"problem {kind}")
    builder.add(0, {"loss": 1.0})
    history = builder.build()
    assert history.rows_skipped == sum(range(1, 16))
    assert len(history.skip_reasons) == 10
    assert history.skip_reasons[0] == "1 line: problem 0"
    assert history.skip_reasons[8] == "9 lines: problem 8"
    assert history.skip_reasons[9] == "and 6 more kinds of problem"


def test_builder_empty_history() -> None:
    history = HistoryBuilder().build()
    assert (dict(history.series), history.rows_read, history.rows_skipped) == ({}, 0, 0)
    assert history.last_step is None


def test_builder_unordered_duplicates_keep_the_later_value() -> None:
    builder = HistoryBuilder(unit="row")
    for step, value in [(5, 1.0), (3, 2.0), (5, 3.0), (1, 4.0), (3, NAN), (3, NAN)]:
        builder.add(step, {"x": value})
    history = builder.build()
    steps, values = points(history, "x")
    assert steps == [1, 3, 5]
    assert same(values, [4.0, NAN, 3.0])
    assert history.skip_reasons == (
        "2 duplicate steps, the later value kept",
        "4 rows out of step order, sorted",
    )
