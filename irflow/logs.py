"""Logging through the redactor: every record's final text (message, arguments, traceback) is redacted
and defanged before any handler writes it, in plain text or JSON lines (`IRFLOW_LOG_FORMAT=json`)."""

from __future__ import annotations

import json
import logging

from irflow.redaction import redact

_LIMIT = 8000


class RedactingFormatter(logging.Formatter):
    """Plain text; the whole rendered line is redacted, so no call site can forget to."""

    def format(self, record: logging.LogRecord) -> str:
        return str(redact(super().format(record), max_len=_LIMIT, pii=False))


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for a SIEM; every string value redacted."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
            "logger": record.name, "message": str(redact(record.getMessage(), max_len=_LIMIT, pii=False)),
        }
        if record.exc_info:
            entry["exception"] = str(redact(self.formatException(record.exc_info), max_len=_LIMIT, pii=False))
        return json.dumps(entry, ensure_ascii=False)


def configure(fmt: str = "text", level: int = logging.INFO) -> None:
    """Route irflow's, uvicorn's and the libraries' loggers through one redacting handler."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else RedactingFormatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.irflow = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "irflow", False) or type(h) is logging.StreamHandler]:
        root.removeHandler(old)  # ours from an earlier call, or a bare default one that would not redact
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
