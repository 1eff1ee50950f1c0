"""cockpit.toml: defaults, overrides, and errors that name the file, the key and the problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.core.config import CockpitConfig, ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "cockpit.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config.plans == "hypotheses.md"
    assert config.success_markers == ["best.pt", "metrics.json"]
    assert config.backends["local"].cost_per_hour == 0.0


def test_every_field_has_a_docstring() -> None:
    from cockpit.core.config_docs import field_docs, models_in

    models = models_in(CockpitConfig)
    assert {"LocalBackendConfig", "SshBackendConfig", "RunPodBackendConfig"} <= set(models)
    for model in models.values():
        docs = field_docs(model)
        for name in model.model_fields:
            assert docs.get(name), f"{model.__name__}.{name} has no docstring"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[backends.local]\ncost_per_hour = "cheap"\n', "key 'backends.local.cost_per_hour'"),
        ("[supervisor]\npoll_secs = 1\n", "key 'supervisor.poll_secs': unknown key"),
        ('command = "train {hyp}"\n', "key 'command': unknown placeholder 'hyp'"),
        ('default_backend = "pod"\n', "key 'default_backend': backend 'pod' is not defined"),
        ('[metrics]\npatterns = ["(unclosed"]\n', "key 'metrics.patterns'"),
        ("[backends.local]\ncost_per_hour = -1\n", "greater than or equal to 0"),
        ('[backends.gpu]\nkind = "lambda"\n', "key 'backends.gpu.kind': unknown backend kind"),
        ('[backends.box]\nkind = "ssh"\n', "key 'backends.box.host': required"),
        (
            '[backends.box]\nkind = "ssh"\nhost = "h"\nport = 70000\n',
            "key 'backends.box.port': must be less than 65536",
        ),
        ("plans = 3\n", "key 'plans': must be a string, not a number 3"),
        ("[notify]\ntmux = 1\n", "key 'notify.tmux': must be true or false"),
        ("[health]\nstall_checks = 2.5\n", "key 'health.stall_checks': must be a whole number"),
        ('[recover]\non = ["oom", "flu"]\n', "key 'recover.on.1': must be one of 'oom'"),
        ('success_markers = "best.pt"\n', "key 'success_markers': must be a list, not a string"),
        ("[cost]\nrun_cap = 0\n", "key 'cost.run_cap': must be greater than 0"),
        ("supervisor = 1\n", "key 'supervisor': must be a table, not a number"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "cockpit.toml") in message
    assert expected in message


def test_bad_toml_names_the_line(tmp_path: Path) -> None:
    write(tmp_path, 'plans = "a"\ncommand = \n')
    with pytest.raises(ConfigError, match=r"cockpit.toml: not valid TOML: .*line 2"):
        load_config(tmp_path)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "[supervisor]\npoll_seconds = 3\n")
    monkeypatch.setenv("COCKPIT_SUPERVISOR__POLL_SECONDS", "0.5")
    monkeypatch.setenv("COCKPIT_PLANS", "docs/*/hypotheses.md")
    config = load_config(tmp_path)
    assert config.supervisor.poll_seconds == 0.5
    assert config.plans == "docs/*/hypotheses.md"


def test_per_plan_overrides(tmp_path: Path) -> None:
    write(
        tmp_path,
        'command = "python train.py"\n'
        "[[plan_overrides]]\n"
        'match = "docs/rl/*/hypotheses.md"\n'
        'command = "python rl.py {hypothesis}"\n'
        'success_markers = ["ckpt/best.pt"]\n',
    )
    config = load_config(tmp_path)
    assert config.for_plan("docs/rl/case3/hypotheses.md") == (
        "python rl.py {hypothesis}",
        None,
        ["ckpt/best.pt"],
    )
    assert config.for_plan("docs/il/case1/hypotheses.md")[0] == "python train.py"


def test_cli_exits_non_zero_on_a_config_error(tmp_path: Path) -> None:
    write(tmp_path, "[supervisor]\npoll_secs = 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "cockpit", "ps", "--project", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "supervisor.poll_secs" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_binding_ids_are_named(tmp_path: Path) -> None:
    write(tmp_path, '[keys]\nlaunch = "L"\nlanch = "x"\n')
    with pytest.raises(ConfigError, match=r"key 'keys': unknown binding id 'lanch'"):
        load_config(tmp_path)


def test_environment_values_json_and_names_that_are_not_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "")
    monkeypatch.setenv("COCKPIT_RUN_DIR", "/runs/x")  # what a trainer sees: not a setting
    monkeypatch.setenv("cockpit_keys", '{"launch": "L"}')
    monkeypatch.setenv("COCKPIT_BACKENDS__LOCAL__COST_PER_HOUR", "1.25")
    config = load_config(tmp_path)
    assert config.keys == {"launch": "L"}
    assert config.backends["local"].cost_per_hour == 1.25
    monkeypatch.setenv("COCKPIT_SUCCESS_MARKERS", "[not json")
    with pytest.raises(ConfigError, match="COCKPIT_SUCCESS_MARKERS: not valid JSON"):
        load_config(tmp_path)
    monkeypatch.setenv("COCKPIT_SUCCESS_MARKERS", '["a.pt"]')
    monkeypatch.setenv("COCKPIT_SUPERVISOR__POLL_SECONDS", "soon")
    with pytest.raises(ConfigError, match=r"key 'supervisor\.poll_seconds'"):
        load_config(tmp_path)


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    write(tmp_path, "plans = 3\n[supervisor]\npoll_seconds = 0\nidle_exit = 5\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    lines = str(info.value).splitlines()
    assert [line.split(": key ")[1].split(":")[0] for line in lines] == [
        "'plans'",
        "'supervisor.poll_seconds'",
        "'supervisor.idle_exit'",
    ]


def test_values_convert_like_toml_and_environment_strings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "[backends.local]\ncost_per_hour = 1\n[health]\nexpected_minutes = 90\n")
    monkeypatch.setenv("COCKPIT_NOTIFY__TMUX", "false")
    monkeypatch.setenv("COCKPIT_HEALTH__STALL_CHECKS", "4")
    config = load_config(tmp_path)
    assert config.backends["local"].cost_per_hour == 1.0
    assert isinstance(config.backends["local"].cost_per_hour, float)
    assert config.health.expected_minutes == 90.0
    assert config.notify.tmux is False
    assert config.health.stall_checks == 4


def test_a_field_check_runs_even_when_another_field_is_bad(tmp_path: Path) -> None:
    write(tmp_path, 'plans = 3\ncommand = "train {hyp}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert "key 'plans'" in str(info.value)
    assert "key 'command': unknown placeholder 'hyp'" in str(info.value)


def test_a_bad_environment_value_names_the_variable_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "[health]\nstall_checks = 0\n")
    monkeypatch.setenv("COCKPIT_SUPERVISOR__POLL_SECONDS", "soon")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    lines = str(info.value).splitlines()
    assert lines == [  # in the order of the tables
        "environment variable COCKPIT_SUPERVISOR__POLL_SECONDS (key 'supervisor.poll_seconds'): "
        "must be a number, not a string 'soon'",
        f"{tmp_path / 'cockpit.toml'}: key 'health.stall_checks': must be greater than or equal "
        "to 1",
    ]


def test_messages_are_plain_words(tmp_path: Path) -> None:
    write(
        tmp_path, 'command = "train {hyp}"\n[metrics]\npatterns = ["x"]\n[backends.b]\nkind = 3\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    message = str(info.value)
    assert "Value error" not in message and "Input should" not in message
    assert "key 'metrics.patterns': pattern 'x' has no named group" in message
    assert "key 'backends.b.kind': unknown backend kind 3" in message


def schema() -> dict[str, object]:
    from cockpit.core.config import config_schema

    return config_schema()


def toml_of(path: Path) -> dict[str, object]:
    import tomllib

    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_the_json_schema_accepts_the_demo_and_rejects_an_unknown_key(tmp_path: Path) -> None:
    import jsonschema

    from cockpit.cli.demo import create_demo

    create_demo(tmp_path)
    demo = toml_of(tmp_path / "cockpit.toml")
    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.validate(demo, schema())
    with pytest.raises(jsonschema.ValidationError, match="poll_secs"):
        jsonschema.validate({**demo, "supervisor": {"poll_secs": 1}}, schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"backends": {"box": {"kind": "ssh", "hostname": "h"}}}, schema())


def test_the_json_schema_knows_every_backend_kind_and_its_descriptions() -> None:
    import jsonschema

    every_kind = {
        "backends": {
            "local": {},
            "box": {"kind": "ssh", "host": "lab", "port": 2222, "env": {"A": "1"}},
            "pod": {"kind": "runpod", "gpu_type": "NVIDIA A40", "volume_gb": 10},
        },
        "cost": {"run_cap": 5.0},
        "notify": {"tmux": False},
    }
    jsonschema.validate(every_kind, schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"cost": {"run_cap": 0}}, schema())
    definitions = schema()["$defs"]
    assert isinstance(definitions, dict)
    ssh = definitions["SshBackendConfig"]["properties"]
    assert "~/.ssh/config" in ssh["host"]["description"]


def cockpit_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cockpit", *args], capture_output=True, text=True, check=False
    )


def test_config_check_and_schema_commands(tmp_path: Path) -> None:
    import json

    write(tmp_path, "plans = 3\n[supervisor]\npoll_secs = 1\n")
    bad = cockpit_cli("config", "check", "--project", str(tmp_path))
    assert bad.returncode == 1
    assert "2 problem(s)" in bad.stderr
    assert "key 'plans': must be a string" in bad.stderr
    assert "key 'supervisor.poll_secs': unknown key" in bad.stderr
    assert "Traceback" not in bad.stderr
    other = tmp_path / "other.toml"
    other.write_text('[backends.box]\nkind = "ssh"\nhost = "lab"\ndefault_backend = "box"\n')
    good = cockpit_cli("config", "check", str(other))
    assert good.returncode == 1 and "key 'backends.box.default_backend'" in good.stderr
    other.write_text('default_backend = "box"\n[backends.box]\nkind = "ssh"\nhost = "lab"\n')
    good = cockpit_cli("config", "check", str(other))
    assert good.returncode == 0, good.stderr
    assert "OK (backends: box (ssh); default: box)" in good.stdout
    missing = cockpit_cli("config", "check", str(tmp_path / "nope.toml"))
    assert missing.returncode == 1 and "no such file" in missing.stderr
    printed = cockpit_cli("config", "schema")
    assert printed.returncode == 0
    assert json.loads(printed.stdout)["title"] == "cockpit.toml"
