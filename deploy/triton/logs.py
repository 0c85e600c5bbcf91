"""Reading a Triton log: the most telling error on one line, CPU start-up noise skipped."""

from __future__ import annotations

import re
from pathlib import Path

LOG_TAIL_LINES = 20
"""Lines an error message tells the reader to look at (`tail -n 20 LOG`)."""

# Startup messages that are normal on a machine without a GPU: never reported as the cause.
HARMLESS = re.compile(
    r"CudaDriverHelper|CUDA driver|CUDA runtime|NVML|unable to create stream|DCGM|pinned memory"
    r"|GPU metrics",
    re.IGNORECASE,
)
# glog prefix: "E1127 21:15:01.561002 10338 main.cc:245] message"
GLOG_ERROR = re.compile(r"^[EF]\d{4} [\d:.]+\s+\d+ [^\]]*\]\s*(?P<msg>.*)$")


def read_tail(path: Path, lines: int = LOG_TAIL_LINES, max_bytes: int = 256_000) -> list[str]:
    """The last ``lines`` lines (all of the last ``max_bytes`` when ``lines`` is 0)."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - max_bytes))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    return text.splitlines()[-lines:] if lines else text.splitlines()


def error_messages(path: Path) -> list[str]:
    """The log's distinct error-level messages, oldest first, without the harmless ones."""
    errors: list[str] = []
    for line in read_tail(path, lines=0):
        match = GLOG_ERROR.match(line)
        if match:
            message = match.group("msg").strip().strip('"')
        elif line.startswith("error:"):
            message = line[len("error:") :].strip()
        else:
            continue
        message = message.split("\\n")[0].strip()  # Triton escapes tracebacks as literal \n
        if message and not HARMLESS.search(message) and message not in errors:
            errors.append(message)
    return errors


def summarize_log(path: Path) -> str:
    """The most telling error of a Triton log, on one line; harmless CPU messages skipped."""
    errors = error_messages(path)
    if not errors:
        tail = [line.strip() for line in read_tail(path, lines=5) if line.strip()]
        return f"no error logged (last line: {tail[-1][:200]})" if tail else "no output logged"
    last = errors[-1]
    if "failed to load all models" in last:
        causes = [e for e in errors if e.startswith("failed to load '")][-3:]
        return "; ".join([*causes, last])
    return last[:300]
