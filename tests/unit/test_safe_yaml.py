"""Every YAML file govflow loads goes through one bounded loader (engine/bpmn/safe_yaml.py): anchors and aliases, too
many values and deep nesting are refused with the file and line, at validate, deploy and library upload."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from engine.bpmn.definitions import DeploymentError, SourceFile, load_bundle
from engine.bpmn.safe_yaml import MAX_DEPTH, MAX_NODES, UnsafeYamlError, load_yaml, read_yaml
from engine.governance import policy

ROOT = Path(__file__).resolve().parents[2]


def alias_bomb() -> str:
    """A settings.yaml like the probe's: 1.6 KB of nested anchors, ten aliases a level, 10**9 strings expanded."""
    lines = ["# settings", "lapse_days: 20",
             "layer_0: &layer_0 [" + ", ".join(['"lol lol lol lol lol lol lol lol lol lol lol lol lol lol"'] * 10) + "]"]
    for level in range(1, 9):
        lines.append(f"layer_{level}: &layer_{level} [" + ", ".join([f"*layer_{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_the_probe_payload_is_refused_at_its_first_anchor_with_file_and_line_quickly():
    bomb = alias_bomb()
    assert 1500 < len(bomb) < 1700
    started = time.process_time()
    with pytest.raises(UnsafeYamlError) as refused:
        load_yaml(bomb, "settings.yaml")
    assert time.process_time() - started < 0.5
    err = refused.value
    assert (err.filename, err.line) == ("settings.yaml", 3)
    assert str(err) == "settings.yaml line 3: anchors and aliases (&layer_0) are not allowed: write the values out"
    assert isinstance(err, yaml.YAMLError), "callers that catch YAML errors catch this one"


def test_an_alias_alone_is_refused_too():
    with pytest.raises(UnsafeYamlError, match=r"line 2: anchors and aliases \(\*x\)"):
        load_yaml("a: 1\nb: *x\n", "roles.yaml")


def test_deep_nesting_and_too_many_values_are_refused():
    with pytest.raises(UnsafeYamlError, match=f"nested more than {MAX_DEPTH} deep"):
        load_yaml("x: " + "[" * 5000 + "]" * 5000, "settings.yaml")  # PyYAML alone would recurse until it fails
    many = "x: [" + ", ".join(["1"] * (MAX_NODES + 1)) + "]\n"
    with pytest.raises(UnsafeYamlError, match=f"more than {MAX_NODES:,} values"):
        load_yaml(many, "settings.yaml")


def test_plain_yaml_and_every_shipped_file_load():
    assert load_yaml("a: [1, {b: two}]\nc: 2026-12-01\n", "x.yaml")["a"] == [1, {"b": "two"}]
    assert load_yaml("", "x.yaml") is None
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: !!python/object:os.system x", "x.yaml")  # safe types only
    for path in [*(ROOT / "processes").glob("*.yaml"), *(ROOT / "engine" / "demo").glob("*.yaml")]:
        assert read_yaml(path) is not None, path


def test_deploy_and_validate_refuse_the_bomb_with_file_and_line():
    with pytest.raises(DeploymentError) as refused:
        load_bundle([SourceFile("settings.yaml", "settings", alias_bomb().encode())])
    [problem] = refused.value.problems
    assert (problem.file, problem.line) == ("settings.yaml", 3)
    assert problem.reason == "not valid YAML: anchors and aliases (&layer_0) are not allowed: write the values out"


def test_a_roles_file_with_aliases_is_refused_as_the_policy(tmp_path):
    roles = tmp_path / "roles.yaml"
    roles.write_text((ROOT / "processes" / "roles.yaml").read_text() + "\nextra: &big [1, 2]\nmore: *big\n")
    with pytest.raises(policy.PolicyError, match=r"roles.yaml line \d+: anchors and aliases"):
        policy.load(roles)
