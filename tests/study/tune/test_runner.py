"""study.tune.runner pieces that need no Ray: a Ctrl-C while Ray starts is held back, never lost."""

from __future__ import annotations

import os
import signal

import pytest

from study.tune.runner import ctrl_c_deferred


def test_ctrl_c_inside_the_block_is_raised_when_it_ends() -> None:
    reached_the_end = False
    with pytest.raises(KeyboardInterrupt):
        with ctrl_c_deferred():
            os.kill(os.getpid(), signal.SIGINT)  # delivered at once; the handler only records it
            reached_the_end = True
    assert reached_the_end
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the previous handler is back


def test_a_block_without_ctrl_c_ends_quietly() -> None:
    with ctrl_c_deferred():
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
