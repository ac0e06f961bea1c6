"""The working directory a harness takes on request (the real worker runs in the app folder:
H `Workers/Rpc/RpcWorkerProcess.cs`): one folder per process, the caller's back after the
last. Through a harness and `funchost start` in tests/integration/test_fidelity_logs.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from funchost.testing import process_state


def test_held_by_several_for_one_folder_and_given_back_by_the_last(tmp_path: Path) -> None:
    caller = os.getcwd()
    app = tmp_path.resolve()
    first = process_state.enter_directory(app)
    try:
        second = process_state.enter_directory(app)
        assert os.getcwd() == str(app)
        second()
        assert os.getcwd() == str(app)  # the first still holds it
    finally:
        first()
    assert os.getcwd() == caller


def test_another_folder_is_refused_by_name(tmp_path: Path) -> None:
    one, other = tmp_path.resolve() / "one", tmp_path.resolve() / "other"
    one.mkdir()
    other.mkdir()
    caller = os.getcwd()
    undo = process_state.enter_directory(one)
    try:
        with pytest.raises(
            RuntimeError,
            match=rf"cannot make {other} the working directory: "
            rf"a running harness holds {one}",
        ):
            process_state.enter_directory(other)
        assert os.getcwd() == str(one)
    finally:
        undo()
    assert os.getcwd() == caller


def test_a_directory_the_test_moved_to_since_is_left_alone(tmp_path: Path) -> None:
    caller = os.getcwd()
    elsewhere = tmp_path.resolve() / "elsewhere"
    elsewhere.mkdir()
    undo = process_state.enter_directory(tmp_path)
    try:
        os.chdir(elsewhere)
        undo()
        assert os.getcwd() == str(elsewhere)
    finally:
        os.chdir(caller)
