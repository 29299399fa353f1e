"""The request log as the Requests page reads it: pages of rows with filters, one request's attempt
chain, and exports of the filtered rows.

Rows are client requests; each holds the chain of upstream attempts it took (a failover is one
request with two attempts). Times are Unix milliseconds.
"""

from __future__ import annotations

import io
import re
import typing
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson

from api_router.lazy import LazyModule
from api_router.store import Store, schema
from api_router.texts import quoted

if TYPE_CHECKING:
    import csv
else:  # only exports need it
    csv = LazyModule("csv")

# What the outcome filter takes (a JSON argument, so a Literal): every records.RequestOutcome, and "failover"
# (served after another failed); tests/test_store.py holds the two together.
OutcomeFilter = Literal["ok", "error", "failover", "client_error", "client_closed"]
ExportFormat = Literal["csv", "jsonl"]
EXPORT_LIMIT = 1_000_000
EXPORT_PAGE_ROWS = 2000
OUTCOMES: tuple[str, ...] = typing.get_args(OutcomeFilter)
MAX_FILTER_CHARS = 1000  # a longer search is no search anyone types (and SQLite refuses LIKE patterns of 50,000)

_COLUMNS = ("id", "request_id", "unix_ms", "path", "session_id", "provider", "model", "sent_model", "stream",
            "status", "outcome", "latency_ms", "ttfb_ms", "input_tokens", "output_tokens", "cached_tokens",
            "reasoning_tokens", "total_tokens", "attempt_count", "hedged", "failover", "error", "request_bytes",
            "response_bytes", "providers_tried", "solo", "attempt_latency_ms", "attempt_ttfb_ms")
_INTERNAL = ("solo", "attempt_latency_ms", "attempt_ttfb_ms")  # how the attempt chain is kept, not shown
_TEXT_COLUMNS = ("error", "model", "sent_model", "session_id", "request_id")  # what the text filter searches
_ATTEMPT_TEXT_COLUMNS = ("error", "sent_model")  # and in each attempt
_ATTEMPT_FIELDS = ("provider", "outcome", "status", "latency_ms", "ttfb_ms", "error", "hedge", "retry", "sent_model",
                   "summary")


@dataclass(frozen=True)
class Filters:
    provider: str | None = None  # any attempt went to it
    outcome: OutcomeFilter | None = None
    session_id: str | None = None
    text: str | None = None  # in the errors (the request's and its attempts'), the models, the session id or request id

    def where(self) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if self.provider and "," in self.provider:  # no id has one: it would match the stored list itself
            clauses.append("0")
        elif self.provider:  # ids differ by case ("relay", "Relay"): instr compares exactly, LIKE would not
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
            if self.text.isascii():  # LIKE ignores the case of ASCII letters, and is fast
                test, needle = "{} LIKE ? ESCAPE '\\'", f"%{_like(self.text)}%"
            else:  # other letters: compared casefolded (Store's reader defines casefold)
                test, needle = "instr(casefold({}), ?) > 0", self.text.casefold()
            own = [test.format(c) for c in _TEXT_COLUMNS]
            # What a provider said to an attempt the request went on from (failed over, retried) is in the
            # attempts rows only.
            asked = " OR ".join(test.format(f"a.{c}") for c in _ATTEMPT_TEXT_COLUMNS)
            clauses.append("(" + " OR ".join(own) + " OR EXISTS (SELECT 1 FROM attempts a WHERE "
                           f"a.request_id = request_log.id AND ({asked})))")
            args += [needle] * (len(_TEXT_COLUMNS) + len(_ATTEMPT_TEXT_COLUMNS))
        return clauses, args


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _row(values: tuple[Any, ...]) -> dict[str, Any]:
    row = dict(zip(_COLUMNS, values, strict=True))
    row["stream"] = bool(row["stream"])
    row["hedged"] = bool(row["hedged"])
    row["failover"] = bool(row["failover"])  # served after another provider failed (the outcome filter's)
    row["attempts"] = row.pop("attempt_count")
    row["sent_model"] = row["sent_model"] or row["model"]
    row["providers_tried"] = schema.providers_tried(row["providers_tried"])
    return row


def _public(row: dict[str, Any]) -> dict[str, Any]:
    for column in _INTERNAL:
        row.pop(column, None)
    return row


def page(store: Store, filters: Filters, *, limit: int = 100, before_id: int | None = None,
         after_id: int | None = None, oldest: bool = False) -> dict[str, Any]:
    """A page of the rows matching ``filters``, newest first: the newest ones; or those listed after the row
    ``before_id`` (older), or before the row ``after_id`` (the ``limit`` just newer), or the oldest ones. Says
    how many matching rows are listed above the page (``newer``), so a page knows where it stands."""
    clauses, args = filters.where()
    # On a connection of its own: a text search through a full log (up to a second, again at every poll of
    # each open page) holds no other read up, and its count and its rows see the same log.
    with store.snapshot() as read:
        total = read(f"SELECT count(*) FROM request_log{_where(clauses)}", tuple(args))[0][0]
        if after_id is not None or oldest:  # read from the older end up, then turned round
            cursor = ([_LISTED_BEFORE], _place(read, after_id)) if after_id is not None else ([], ())
            listed = _listed(read, clauses, args, cursor, _OLDEST_FIRST, limit)[::-1]
            newer = _newer_than(read, clauses, args, listed, total)
            more = total - newer - len(listed) > 0
        else:
            cursor = ([_LISTED_AFTER], _place(read, before_id)) if before_id is not None else ([], ())
            listed = _listed(read, clauses, args, cursor, _NEWEST_FIRST, limit + 1)
            more, listed = len(listed) > limit, listed[:limit]
            newer = 0 if before_id is None else _newer_than(read, clauses, args, listed, total)
    rows = [_public(_row(r)) for r in listed]
    return {"requests": rows, "next_before_id": rows[-1]["id"] if more and rows else None, "total": total,
            "newer": newer}


Reader = Callable[[str, tuple[Any, ...]], list[Any]]


def _listed(read: Reader, clauses: list[str], args: list[Any], cursor: tuple[list[str], tuple[int, ...]],
            order: str, limit: int) -> list[Any]:
    where = _where([*clauses, *cursor[0]])
    return read(f"SELECT {', '.join(_COLUMNS)} FROM request_log{where}{order} LIMIT ?", (*args, *cursor[1], limit))


def _place(read: Reader, row_id: int) -> tuple[int, int]:
    """Where the row ``row_id`` is listed: (its time, its id). One pruned since the page naming it was read
    is placed below every row (the rows that began before it went with it, by age or by count)."""
    found = read("SELECT unix_ms FROM request_log WHERE id = ?", (row_id,))
    return (found[0][0] if found else -1), row_id


def _newer_than(read: Reader, clauses: list[str], args: list[Any], listed: list[Any], total: int) -> int:
    """How many of the matching rows are listed above a page's rows (all of them above an empty page)."""
    if not listed:
        return total
    where = _where([*clauses, _LISTED_BEFORE])
    return int(read(f"SELECT count(*) FROM request_log{where}", (*args, listed[0][_UNIX_MS], listed[0][_ID]))[0][0])


# Newest first by the time each request began (the Time column), not by when it ended and was logged: a
# long Codex turn begun before a short one is listed below it. (The time index holds the id too.)
_NEWEST_FIRST = " ORDER BY unix_ms DESC, id DESC"
_OLDEST_FIRST = " ORDER BY unix_ms, id"
# The rows listed after a row (its time, its id), and before it: a row value, which the time index answers
# as a range.
_LISTED_AFTER = "(unix_ms, id) < (?, ?)"
_LISTED_BEFORE = "(unix_ms, id) > (?, ?)"
_UNIX_MS = _COLUMNS.index("unix_ms")
_ID = _COLUMNS.index("id")


def detail(store: Store, request_id: int, name_of: Callable[[str], str]) -> dict[str, Any] | None:
    rows = store.query(f"SELECT {', '.join(_COLUMNS)} FROM request_log WHERE id = ?", (request_id,))
    if not rows:
        return None
    row = _row(rows[0])
    chain = store.attempts_of([row]).get(request_id, [])
    _public(row)
    row["attempt_chain"] = [{**{k: a.get(k) for k in _ATTEMPT_FIELDS}, "name": name_of(a["provider"])} for a in chain]
    return row


@dataclass
class Export:
    """The filtered rows as a file, each with the provider's display name next to its id, made a page of
    rows at a time (``pieces``): a 200,000-row log held whole as rows, then as one string, took most of
    a gigabyte and kept it. Pages go newest first from one snapshot, so rows logged meanwhile are not taken."""

    store: Store
    filters: Filters
    fmt: ExportFormat
    name_of: Callable[[str], str]
    rows: int = 0  # written so far
    total: int | None = None  # the rows it holds, known once the first piece is made

    @property
    def filename(self) -> str:
        return f"api-router-requests.{self.fmt}"

    @property
    def content_type(self) -> str:
        return "application/x-ndjson" if self.fmt == "jsonl" else "text/csv"

    def pieces(self) -> Generator[bytes, None, None]:
        # The rows there are now, read from one snapshot: what is logged meanwhile is not in it, and what
        # the row limit prunes meanwhile (the oldest rows, read last) still is — ``total`` is what it holds.
        with self.store.snapshot() as read:
            yield from self._pages(read)

    def _pages(self, read: Callable[[str, tuple[Any, ...]], list[Any]]) -> Iterator[bytes]:
        clauses, args = self.filters.where()
        total = read(f"SELECT count(*) FROM request_log{_where(clauses)}", tuple(args))[0][0]
        self.total = min(total, EXPORT_LIMIT)
        if self.fmt == "csv":  # the header of an empty export is the one a full one would have
            yield self._csv([list(_named(_public(_row((None,) * len(_COLUMNS))), self.name_of))])
        after: tuple[int, int] | None = None  # the last row written (its time, its id)
        while self.rows < self.total:
            where = _where([*clauses, _LISTED_AFTER] if after is not None else clauses)
            page = min(EXPORT_PAGE_ROWS, self.total - self.rows)
            found = read(f"SELECT {', '.join(_COLUMNS)} FROM request_log{where}{_NEWEST_FIRST} LIMIT ?",
                         (*args, *(after or ()), page))
            if not found:
                return
            after = found[-1][_UNIX_MS], found[-1][0]
            self.rows += len(found)
            rows = [_named(_public(_row(r)), self.name_of) for r in found]
            if self.fmt == "jsonl":
                yield b"".join(orjson.dumps(r) + b"\n" for r in rows)
            else:
                yield self._csv([[_cell(v) for v in r.values()] for r in rows])

    @staticmethod
    def _csv(lines: list[list[Any]]) -> bytes:
        out = io.StringIO()
        # Every cell quoted: a value may hold a separator another reader splits on (";" in many locales).
        csv.writer(out, quoting=csv.QUOTE_ALL).writerows(lines)
        return out.getvalue().encode()


def export(made: Export) -> dict[str, Any]:
    """The whole export in one answer (the control call; the window saves it a piece at a time)."""
    content = b"".join(made.pieces()).decode()
    return {"filename": made.filename, "content_type": made.content_type, "content": content, "rows": made.rows}


def export_of(store: Store, name_of: Callable[[str], str], format: str = "csv", provider: str | None = None,
              outcome: str | None = None, session_id: str | None = None, text: str | None = None) -> Export:
    """The export for a format and the Requests page's filters, as a caller gave them; ValueError says
    what is wrong with one."""
    if format not in ("csv", "jsonl"):
        raise ValueError(f"format must be 'csv' or 'jsonl', not {quoted(format)}")
    return Export(store, filters_of(provider, outcome, session_id, text), typing.cast(ExportFormat, format), name_of)


def filters_of(provider: str | None = None, outcome: str | None = None, session_id: str | None = None,
               text: str | None = None) -> Filters:
    """The request log's filters, as the Requests page and its export give them (blank: no filter);
    ValueError says what is wrong with one."""
    given = {"provider": provider, "session_id": session_id, "text": text}
    for name, value in given.items():
        if value is not None and len(value) > MAX_FILTER_CHARS:
            raise ValueError(f"{name} must be at most {MAX_FILTER_CHARS} characters")
        if value is not None and "\0" in value:  # SQLite would read the search only up to it
            raise ValueError(f"{name} must not contain a NUL character")
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    cleaned = {name: (value or "").strip() or None for name, value in given.items()}
    return Filters(cleaned["provider"], outcome, cleaned["session_id"], cleaned["text"])  # type: ignore[arg-type]


# What a spreadsheet takes for the start of a formula. Text from clients and providers (a model name,
# a session id, an error) that starts so gets an apostrophe before it, which shows it as the text it
# is — at the start of the cell, and after anything a spreadsheet may split a line on (";" and a tab in
# many locales, a line break), since a cell read with another separator starts there.
# The separator is looked behind, not taken: a tab or CR is a separator and a formula start at once.
_FORMULA = re.compile(r"(?:^|(?<=[;,\t\r\n]))([=+\-@\t\r])")


def _cell(value: Any) -> Any:
    """A CSV cell as a spreadsheet (or JSON reader) expects it: true/false, times to 0.1 ms, the
    providers tried as "p1,p2", the way the log keeps them, and text never run as a formula."""
    kind = type(value)
    if kind is str:
        return _inert(value)
    if kind is int or value is None:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is float:
        return round(value, 1)
    if kind is list:
        return _inert(",".join(value))
    return _inert(value) if isinstance(value, str) else value  # (a str of another kind)


_FORMULA_STARTS = frozenset("=+-@\t\r")
_SEPARATOR = re.compile(r"[;,\t\r\n]")


def _inert(text: str) -> str:
    """``text`` with an apostrophe before what a spreadsheet would run as a formula. Most cells (ids, models,
    names) hold neither a formula's first character nor a separator, and skip the rewrite (an export of
    200,000 rows spent most of its time there, holding the interpreter the gateway's requests share)."""
    if text[:1] not in _FORMULA_STARTS and _SEPARATOR.search(text) is None:
        return text
    return _FORMULA.sub(_apostrophe, text)


def _apostrophe(found: re.Match[str]) -> str:
    return "'" + found.group(1)


def _where(clauses: list[str]) -> str:
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def _named(row: dict[str, Any], name_of: Callable[[str], str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        out[key] = value
        if key == "provider":
            out["provider_name"] = name_of(value) if value else None
    return out
