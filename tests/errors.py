"""What the tests read of a failed command: its one error line."""

from __future__ import annotations


def one_error_line(capsys) -> str:
    """The one error line on stderr (progress bars aside), with no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]
    assert len(lines) == 1 and lines[0].startswith("knowgpt "), lines
    return lines[0]
