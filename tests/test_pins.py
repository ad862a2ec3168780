"""Every pin is a name==version the registry serves: no local paths, file: or VCS URLs, editables.

A constraints.txt written by `pip freeze` once pinned `llama_cpp_python @ file:///tmp/wheels/...`,
and every machine but the one holding that wheel failed to install the project.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import pins  # noqa: E402


@pytest.mark.parametrize("name", ["requirements.txt", "constraints.txt"])
def test_project_pins_are_exact_registry_versions(name):
    bad = pins.check_files([ROOT / name])
    assert not bad, "\n".join(map(str, bad))


@pytest.mark.parametrize(
    "line, why",
    [
        ("llama_cpp_python @ file:///tmp/wheels/llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl#sha256=ee",
         "local path"),
        ("/tmp/wheels/llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl", "local path"),
        ("./vendor/pkg", "local path"),
        ("-e .", "editable"),
        ("-e git+https://example.org/x.git#egg=x", "editable"),
        ("git+https://example.org/x.git@v1#egg=x", "URL"),
        ("pkg @ https://example.org/pkg-1.0.tar.gz", "local path"),
        ("--find-links /opt/wheels", "another package source"),
        ("torch==2.13.0+cpu", "local version label"),
        ("numpy>=2", "exact"),
        ("numpy", "exact"),
    ],
)
def test_path_url_and_loose_pins_are_rejected_with_the_line(line, why):
    text = "# a comment\nclick==8.5.1\n" + line + "  # trailing comment\n"
    bad = pins.check_text(text, "constraints.txt")
    assert len(bad) == 1
    assert bad[0].line_no == 3 and bad[0].path == "constraints.txt"
    assert why in bad[0].why
    assert "constraints.txt:3" in str(bad[0])


def test_extras_and_comments_pass():
    text = "# comment\n\nllama-cpp-python[server]==0.3.36\nPyYAML==6.0.3  # why\n"
    assert pins.check_text(text, "requirements.txt") == []


def test_check_command_names_the_bad_line_and_exits_1(tmp_path):
    bad = tmp_path / "constraints.txt"
    bad.write_text("click==8.5.1\nllama_cpp_python @ file:///tmp/wheels/x.whl\n")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "pins.py"), "check", str(bad)],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert f"{bad}:2" in out.stderr and "llama_cpp_python @ file:" in out.stderr


def test_freeze_writes_only_exact_pins_of_this_environment():
    lines = pins.frozen_lines()
    assert lines, "no distributions found"
    assert pins.check_text("\n".join(lines), "frozen") == []
    names = {line.split("==")[0].lower() for line in lines}
    assert "rag-citations" not in names and "pip" not in names  # the project itself and pip's tools
    assert "click" in names  # a dependency that is installed
