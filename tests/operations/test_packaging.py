"""Reproducible and non-editable installs: the lock files pin what pyproject.toml names (openpyxl for the tests
only), and govflow built as a wheel and installed elsewhere runs from its package data with its rules found
through configuration."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pins(text: str) -> dict[str, str]:
    return {re.sub(r"[-_.]+", "-", name).lower(): version
            for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", text, re.MULTILINE)}


def _declared() -> tuple[dict[str, str], dict[str, str]]:
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    strip = lambda spec: re.sub(r"\[[^]]*\]", "", spec)  # noqa: E731
    return (_pins("\n".join(map(strip, project["dependencies"]))),
            _pins("\n".join(map(strip, project["optional-dependencies"]["test"]))))


def test_the_lock_files_pin_what_pyproject_declares_with_hashes():
    runtime, test = _declared()
    lock, test_lock = (_pins((ROOT / name).read_text()) for name in ("requirements.lock", "requirements-test.lock"))
    for name, version in runtime.items():
        assert lock.get(name) == version and test_lock.get(name) == version, name
    for name, version in test.items():
        assert test_lock.get(name) == version, name
    assert "openpyxl" in test and "openpyxl" not in runtime and "openpyxl" not in lock  # production writes .xlsx
    assert "pytest" not in lock and "playwright" not in lock
    for name in ("requirements.lock", "requirements-test.lock"):
        text = (ROOT / name).read_text()
        hashed = re.findall(r"^[A-Za-z0-9_.-]+==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}", text, re.MULTILINE)
        assert len(hashed) == len(_pins(text)), name  # every pin carries its hashes
        assert "--find-links" not in text and "--index-url" not in text


def test_make_setup_installs_the_lock_file():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r requirements-test.lock" in makefile
    assert "$(STAMP): pyproject.toml requirements-test.lock" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """govflow built as a wheel, from a copy of the sources (the checkout is left untouched)."""
    if not (ROOT / "web" / "static" / "vendor").is_dir():
        pytest.fail("web/static/vendor is missing: run `make assets` first")
    source = tmp_path_factory.mktemp("source")
    for name in ("engine", "web", "cli"):
        subprocess.run(["cp", "-r", str(ROOT / name), str(source / name)], check=True)
    for name in ("pyproject.toml", "README.md"):
        (source / name).write_bytes((ROOT / name).read_bytes())
    out = tmp_path_factory.mktemp("wheel")
    # built as the image builds it: pip's isolated build with the setuptools pyproject.toml asks for
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out),
                    str(source)], check=True, capture_output=True, timeout=300)
    return next(out.glob("govflow-*.whl"))


def test_the_wheel_holds_the_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("engine/store/migrations/env.py", "engine/store/migrations/script.py.mako",
                     "engine/demo/demo_users.yaml", "web/templates/base.html", "web/gunicorn_conf.py",
                     "web/static/vendor/govuk/govuk-frontend.min.css"):
        assert expected in names, expected
    assert any(n.startswith("engine/store/migrations/versions/0018_") for n in names)
    assert not any(n.startswith(("processes/", "forms/", "tests/")) for n in names)


def test_an_installed_govflow_finds_its_rules_through_configuration(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "GOVFLOW_INSTANCE_DIR": str(tmp_path / "instance"),
           "GOVFLOW_SECRET_KEY": "k", "GOVFLOW_PASSWORD_PROFILE": "cheapest"}
    for key in ("GOVFLOW_DATABASE_URL", "GOVFLOW_PROCESSES_DIR", "GOVFLOW_FORMS_DIR"):
        env.pop(key, None)
    script = [sys.executable, "-c", "import sys; from cli.commands import govflow; govflow(sys.argv[1:])"]

    def govflow(*args, **extra):
        return subprocess.run([*script, *args], env={**env, **extra}, cwd=elsewhere, capture_output=True,
                              text=True, timeout=300)

    where = subprocess.run([sys.executable, "-c", "import engine, web; print(engine.__file__, web.__file__)"],
                           env=env, cwd=elsewhere, capture_output=True, text=True, check=True).stdout
    assert where.count(str(site)) == 2, where  # the installed copy, not the checkout

    lost = govflow("init")
    assert lost.returncode == 1
    assert f"No processes folder with roles.yaml at {elsewhere / 'processes'}" in lost.stderr
    assert "set GOVFLOW_PROCESSES_DIR" in lost.stderr

    found = govflow("init", GOVFLOW_PROCESSES_DIR=str(ROOT / "processes"), GOVFLOW_FORMS_DIR=str(ROOT / "forms"))
    assert found.returncode == 0, found.stderr
    assert "Process change_control" in found.stdout and "(new)" in found.stdout

    page = subprocess.run([sys.executable, "-c", "from web.app import create_app; c = create_app().test_client(); "
                           "print(c.get('/sign-in').status_code, "
                           "c.get('/static/vendor/govuk/govuk-frontend.min.css').status_code)"],
                          env={**env, "GOVFLOW_PROCESSES_DIR": str(ROOT / "processes")}, cwd=elsewhere,
                          capture_output=True, text=True, timeout=120)
    assert page.stdout.split()[-2:] == ["200", "200"], page.stderr[-2000:]
