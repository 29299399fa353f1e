"""The request log as the Requests page reads it: pages of rows with filters, one request's attempt
chain, and exports of the filtered rows.

Rows are client requests; each holds the chain of upstream attempts it took (a failover is one
request with two attempts). Times are Unix milliseconds.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson

from api_router.lazy import LazyModule
from api_router.store import Store, schema

if TYPE_CHECKING:
    import csv
else:  # only exports need it
    csv = LazyModule("csv")

Outcome = Literal["ok", "error", "failover", "client_error", "client_closed"]
ExportFormat = Literal["csv", "jsonl"]
EXPORT_LIMIT = 1_000_000

_COLUMNS = ("id", "request_id", "unix_ms", "path", "session_id", "provider", "model", "sent_model", "stream",
            "status", "outcome", "latency_ms", "ttfb_ms", "input_tokens", "output_tokens", "cached_tokens",
            "reasoning_tokens", "total_tokens", "attempt_count", "hedged", "error", "request_bytes", "response_bytes",
            "providers_tried", "solo")
_ATTEMPT_FIELDS = ("provider", "outcome", "status", "latency_ms", "ttfb_ms", "error", "hedge", "retry", "sent_model",
                   "summary")


@dataclass(frozen=True)
class Filters:
    provider: str | None = None  # any attempt went to it
    outcome: Outcome | None = None
    session_id: str | None = None
    text: str | None = None  # in the error, the models, the session id or the request id

    def where(self) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if self.provider:  # ids differ by case ("relay", "Relay"): instr compares exactly, LIKE would not
            clauses.append("(provider = ? OR instr(',' || providers_tried || ',', ?) > 0)")
            args += [self.provider, f",{self.provider},"]
        if self.outcome == "failover":
            clauses.append("failover = 1")
        elif self.outcome:
            clauses.append("outcome = ?")
            args.append(self.outcome)
        if self.session_id:
            clauses.append("session_id = ?")
            args.append(self.session_id)
        if self.text:
            columns = ("error", "model", "sent_model", "session_id", "request_id")
            if self.text.isascii():  # LIKE ignores the case of ASCII letters, and is fast
                clauses.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns) + ")")
                args += [f"%{_like(self.text)}%"] * len(columns)
            else:  # other letters: compared casefolded (Store's reader defines casefold)
                clauses.append("(" + " OR ".join(f"instr(casefold({c}), ?) > 0" for c in columns) + ")")
                args += [self.text.casefold()] * len(columns)
        return clauses, args


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _row(values: tuple[Any, ...]) -> dict[str, Any]:
    row = dict(zip(_COLUMNS, values, strict=True))
    row["stream"] = bool(row["stream"])
    row["hedged"] = bool(row["hedged"])
    row["attempts"] = row.pop("attempt_count")
    row["sent_model"] = row["sent_model"] or row["model"]
    row["providers_tried"] = schema.providers_tried(row["providers_tried"])
    return row


def _public(row: dict[str, Any]) -> dict[str, Any]:
    row.pop("solo", None)
    return row


def page(store: Store, filters: Filters, *, limit: int = 100, before_id: int | None = None) -> dict[str, Any]:
    clauses, args = filters.where()
    total = store.query(f"SELECT count(*) FROM request_log{_where(clauses)}", tuple(args))[0][0]
    if before_id is not None:
        clauses, args = [*clauses, "id < ?"], [*args, before_id]
    rows = [_public(_row(r)) for r in store.query(f"SELECT {', '.join(_COLUMNS)} FROM request_log{_where(clauses)} "
                                                  "ORDER BY id DESC LIMIT ?", (*args, limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    return {"requests": rows, "next_before_id": rows[-1]["id"] if more and rows else None, "total": total}


def detail(store: Store, request_id: int, name_of: Callable[[str], str]) -> dict[str, Any] | None:
    rows = store.query(f"SELECT {', '.join(_COLUMNS)} FROM request_log WHERE id = ?", (request_id,))
    if not rows:
        return None
    row = _row(rows[0])
    chain = store.attempts_of([row]).get(request_id, [])
    _public(row)
    row["attempt_chain"] = [{**{k: a.get(k) for k in _ATTEMPT_FIELDS}, "name": name_of(a["provider"])} for a in chain]
    return row


def export(store: Store, filters: Filters, fmt: ExportFormat, name_of: Callable[[str], str]) -> dict[str, Any]:
    """The filtered rows as a file, each with the provider's display name next to its id."""
    rows = [_named(r, name_of) for r in page(store, filters, limit=EXPORT_LIMIT)["requests"]]
    if fmt == "jsonl":
        content = "".join(orjson.dumps(r).decode() + "\n" for r in rows)
        content_type = "application/x-ndjson"
    else:
        out = io.StringIO()
        # The header of an empty export is the one a full one would have.
        fields = list(_named(_public(_row((None,) * len(_COLUMNS))), name_of))
        # Every cell quoted: a value that starts no formula may hold one after a separator the reader
        # splits on (";" in many locales, a tab), and a quoted cell is never split.
        writer = csv.DictWriter(out, fieldnames=fields, quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in r.items()} for r in rows)
        content, content_type = out.getvalue(), "text/csv"
    return {"filename": f"api-router-requests.{fmt}", "content_type": content_type, "content": content,
            "rows": len(rows)}


# What a spreadsheet takes for the start of a formula. Text from clients and providers (a model name,
# a session id, an error) that starts so gets an apostrophe before it, which shows it as the text it
# is — at the start of the cell, and after anything a spreadsheet may split a line on (";" and a tab in
# many locales, a line break), since a cell read with another separator starts there.
_FORMULA = re.compile(r"(^|[;,\t\r\n])([=+\-@\t\r])")


def _cell(value: Any) -> Any:
    """A CSV cell as a spreadsheet (or JSON reader) expects it: true/false, times to 0.1 ms, the
    providers tried as "p1,p2", the way the log keeps them, and text never run as a formula."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return round(value, 1)
    if isinstance(value, list):
        value = ",".join(value)
    if isinstance(value, str):
        return _FORMULA.sub(r"\1'\2", value)
    return value


def _where(clauses: list[str]) -> str:
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def _named(row: dict[str, Any], name_of: Callable[[str], str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        out[key] = value
        if key == "provider":
            out["provider_name"] = name_of(value) if value else None
    return out
