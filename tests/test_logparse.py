"""Log bytes to lines, lines to metrics: the samples researchers' trainers really print."""

from __future__ import annotations

import math

from cockpit.core.gpuparse import parse_gpu_line
from cockpit.core.logparse import MAX_LINE, LineSplitter, MetricParser
from tests.conftest import SAMPLES
from tests.readings import iter_lines

LOGS = SAMPLES / "logs"


def metrics_of(name: str, parser: MetricParser | None = None) -> list[dict[str, float]]:
    parser = parser or MetricParser()
    found = []
    for line in iter_lines((LOGS / name).read_bytes()):
        values = parser.parse(line)
        if values:
            found.append(values)
    return found


def test_json_lines() -> None:
    found = metrics_of("jsonl_metrics.log")
    assert found[0] == {"step": 0, "loss": 1.455, "lr": 0.0003, "tokens_per_s": 41076}
    assert found[-1] == {"step": 200, "val_loss": 1.0412, "win_rate": 0.557}
    assert len(found) == 21  # checkpoint lines carry no metric


def test_hf_trainer_dict_repr_and_no_noise() -> None:
    found = metrics_of("hf_trainer.log")
    assert found[0]["loss"] == 2.1483 and found[0]["epoch"] == 0.01
    assert found[-1]["eval_accuracy"] == 0.4132
    # "Num examples = 120,000" and the tqdm bar are not metrics.
    assert all("examples" not in values and "steps" not in values for values in found)


def test_carriage_return_progress_bar_keeps_the_last_redraw() -> None:
    lines = list(iter_lines((LOGS / "lightning_tqdm.log").read_bytes()))
    bar = [line for line in lines if line.startswith("Epoch 0:")]
    assert len(bar) == 1 and "1000/1000" in bar[0]
    assert MetricParser().parse(bar[0]) == {"loss": 0.75}


def test_key_value_pairs_and_nan() -> None:
    found = metrics_of("nan_loss.log")
    assert found[0] == {"step": 1000, "loss": 0.6421, "lr": 0.0003}
    assert math.isnan(found[-1]["loss"])


def test_user_patterns() -> None:
    parser = MetricParser.from_config(
        [r"win-rate (?P<win_rate>[\d.]+)", r"(?P<key>acc)@(?P<value>\d+)"]
    )
    assert parser.parse("eval: win-rate 0.61 over 300 games, acc@5") == {
        "win_rate": 0.61,
        "acc": 5.0,
    }


def test_nvidia_smi_csv_with_na_fields() -> None:
    samples = [parse_gpu_line(line) for line in iter_lines((LOGS / "nvidia_smi.csv").read_bytes())]
    assert all(sample is not None for sample in samples)
    assert samples[0] is not None and samples[0].util == 97 and samples[0].power_w == 612.41
    assert samples[3] is not None and samples[3].util is None and samples[3].power_w is None
    assert parse_gpu_line("no NVIDIA GPU on this host") is None


def test_splitter_handles_partial_lines_garbage_and_huge_lines() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b'{"step": 1, "lo') == []
    assert splitter.feed(b'ss": 2}\n\xff\xfe garbage\n') == [
        '{"step": 1, "loss": 2}',
        "\ufffd\ufffd garbage",
    ]
    huge = splitter.feed(b"x" * 10_000 + b"\n")
    assert len(huge[0]) == MAX_LINE
    assert splitter.feed(b"tail without newline") == []
    assert splitter.flush() == ["tail without newline"]
    # A parser never sees more than MAX_LINE characters.
    assert MetricParser().parse("loss=1 " * 10_000)["loss"] == 1.0


def test_the_fast_split_equals_cleaning_line_by_line() -> None:
    """Chunks without carriage returns are decoded whole; the lines must be exactly those that
    `clean_line` gives one by one, for any bytes (invalid UTF-8, cut sequences, long lines)."""
    import random

    from cockpit.core.logparse import MAX_LINE, LineSplitter, clean_line

    rng = random.Random(7)
    pieces = [b"a", b"\n", b"\xff", b"\xe2\x82", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"{}"]
    pieces += [b"x" * (MAX_LINE - 1), "é".encode() * 700, b"\xf0\x9f" * 2100, b" loss=0.5"]
    for _ in range(300):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) + b"\n"
        expected = [clean_line(raw) for raw in data[:-1].split(b"\n")]
        assert LineSplitter().feed(data) == expected, data


def test_collecting_a_batch_equals_parsing_line_by_line() -> None:
    from cockpit.core.logparse import MetricParser
    from tests.readings import iter_lines

    lines: list[str] = []
    for log in sorted((SAMPLES / "logs").glob("*.log")):
        lines += list(iter_lines(log.read_bytes()))
    lines += ["", '  {"loss": 1}  ', '\u3000{"a": 2}', "x:\x0b3", "k=\tnan", "{bad json}", "a: b"]
    lines += ["step 3 loss: 0.5", "{'loss': 0.25}", "no metrics here", "lr=.1e-3", "x=-inf"]
    # Runs of JSON objects with the same keys, which `collect` takes a column at a time, and
    # everything that must send a run back to object-by-object parsing.
    for i in range(5):
        lines.append(f'{{"step": {10 + i}, "loss": {1 / (i + 1)}, "phase": "train", "ok": true}}')
        lines.append("prose between metric lines")
    eight = range(8)  # runs this long are taken by column (shorter ones object by object)
    lines += ['{"step": 20, "loss": NaN}', '{"step": 21, "loss": 0.5}', '{"loss": Infinity}']
    lines += [f'{{"step": {22 + i}, "loss": {"NaN" if i == 5 else i}}}' for i in eight]
    lines += [f'{{"acc": "0.{i}", "n": {i}, "ok": {"true" if i % 2 else "false"}}}' for i in eight]
    lines += [f'{{"acc": "{"n/a" if i == 3 else i}", "n": {i}}}' for i in eight]
    mixed = ("1", '"x"', "null", "true")
    lines += ['{"mixed": ' + mixed[i % 4] + "}" for i in eight]
    lines += [f'{{"m": {"true" if i == 6 else i}, "s": "label {i}"}}' for i in eight]
    lines += [f'{{"big": {"1" + "0" * 400 if i == 2 else i}}}' for i in eight]
    lines += ['{"' + "k" * 70 + '": 1, "' + "k" * 64 + 'x": 2}'] * 8
    lines += ['{"msg": "lr=0.5"}'] * 8 + ['{"step": 30}', "epoch=2 loss=0.1"]
    lines += [f'{{"msg": "step {i}", "nested": {{"loss": 1}}, "list": [1, 2]}}' for i in eight]
    lines += ['{"step": 31, "loss": 0.2}', '{"loss": 0.3, "step": 32}', '{"step": "33"}']
    for i in range(12):  # a run broken only by lines with values (`step=`), not by prose
        lines += [f'{{"step": {40 + i}, "loss": 0.{i + 1}}}', f"batch {i}: loaded shard {i}"]
        lines += [f"step={100 + i} note: resumed"] if i % 5 == 4 else []
    # What orjson refuses and Python's reader takes (or neither): Python's reader decides.
    lines += ['{"s": "\\ud800", "n": 1}', '{"n": 18446744073709551617}', '{"n": 1e400}']
    lines += ['{"a": ' + "[" * 400 + "]" * 400 + ', "n": 2}', '{"n": 1, }', '{"n": 2}\t']
    for parser in (MetricParser(), MetricParser.from_config([r"acc (?P<acc>[\d.]+)"])):
        blocks: dict[str, tuple[list[float], list[float]]] = {}
        step, first_bad = math.nan, None
        for index, line in enumerate(lines):  # what the pump did line by line
            values = parser.parse(line)
            step = values.get("step", step)
            for key, value in values.items():
                blocks.setdefault(key, ([], []))[0].append(step)
                blocks[key][1].append(value)
            if first_bad is None and not math.isfinite(values.get("loss", 0.0)):
                first_bad = index
        got = parser.collect(lines, "step", "loss", math.nan)
        assert repr(got.blocks) == repr(blocks)  # repr: NaN != NaN
        assert repr(got.step) == repr(step) and got.first_bad_loss == first_bad is not None
        assert sum(len(values) for _, values in blocks.values()) > 10


def test_an_integer_past_float_range_is_infinite_not_an_error() -> None:
    from cockpit.core.logparse import MetricParser

    huge = "1" + "0" * 400
    assert MetricParser().parse(f'{{"loss": {huge}, "step": -{huge}}}') == {
        "loss": math.inf,
        "step": -math.inf,
    }
