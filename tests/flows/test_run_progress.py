"""Progress bars: pinned on a terminal, absent when standard output is redirected."""

from __future__ import annotations

from flows.run_progress import TERMINAL_BARS, RichBars, terminal_progress


def test_no_bars_when_stdout_is_not_a_terminal() -> None:
    with terminal_progress():  # pytest captures stdout: not a terminal
        assert TERMINAL_BARS.get() is None


def test_bars_follow_each_step() -> None:
    with terminal_progress(enabled=True):
        bars = TERMINAL_BARS.get()
        assert isinstance(bars, RichBars)
        bars.show("ingest", 1, 4, "ingest: a.csv stored")
        bars.show("ingest", 3, 4, "ingest: c.csv stored")
        bars.show("run", 2, 5, "linking")
        tasks = {task.description: task for task in bars.progress.tasks}
    assert tasks["ingest: c.csv stored"].completed == 3 and tasks["linking"].total == 5
    assert TERMINAL_BARS.get() is None
