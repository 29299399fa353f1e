"""Edits of ``config.toml`` as a tomlkit document (for the control API and the file's own repairs): each
changes what it must and keeps the rest of the user's file — comments, layout, the order of tables and
of the ids written in ``provider_order`` — as the user left it."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from api_router.tomlfiles import document, loads, plain, same_values, tomlkit

if TYPE_CHECKING:
    from tomlkit.items import Table
    from tomlkit.toml_document import TOMLDocument


class ConfigError(ValueError):
    """A requested change that would make the config invalid; the message is for the user."""


def provider_table(doc: TOMLDocument, pid: str, *, create: bool = False) -> Table:
    providers = doc.get("providers")
    if create and (providers is None or pid not in providers):
        _end_last_line(doc)
    if providers is None:
        if not create:
            raise ConfigError(f"unknown provider {pid!r}")
        providers = tomlkit.table(is_super_table=True)
        doc["providers"] = providers
    if pid not in providers:
        if not create:
            raise ConfigError(f"unknown provider {pid!r}")
        from tomlkit.items import Comment, InlineTable, Table, Whitespace  # loaded with the document already

        if isinstance(providers, InlineTable):  # a TOML inline table holds no table
            raise ConfigError("config.toml writes the providers as one inline table (providers = { … }), which "
                              "cannot take another provider's table: write them as [providers.<id>] tables, or "
                              "add the provider by hand")
        order = list(_tables(doc.body))
        # Provider tables split by another table (written so by hand) are parts: the new one goes in the last.
        parts = [part for part in _provider_parts(doc) if isinstance(part, Table)]
        inside = _positions(order, (t for part in parts for t in _tables(part.value.body)))
        # A file whose tables follow each other without a blank line gets the new one the same way.
        compact = bool(inside) and inside[-1] + 1 < len(order) and not any(
            isinstance(item, Whitespace) for item in _trailing(order[inside[-1]].value.body, (Comment, Whitespace)))
        if inside:  # the new table goes after the last provider's: comments above the next header stay there
            _notes_to_next(order, inside[-1])
        added = tomlkit.table()
        (parts[-1] if parts else providers)[pid] = added
        if compact:
            added.trivia.indent = ""
        return added
    table: Table = providers[pid]
    return table


def section(doc: TOMLDocument, name: str) -> Table:
    if name not in doc:
        _end_last_line(doc)
        doc[name] = tomlkit.table()
    table: Table = doc[name]
    return table


def _end_last_line(doc: TOMLDocument) -> None:
    """End the file's last line, when it has no line end, before a table is added after it. tomlkit ends
    it for the table with a single line end: a comment there (``# my note``) would stand right above the
    new header, as if about it — and go with it when that table is deleted. Ended first, the comment gets
    the blank line before the new table that it gets in a file with a final newline."""
    from tomlkit.items import AoT, Table, Whitespace  # loaded with the document already

    body = doc.body
    while body:
        last = body[-1][1]
        if isinstance(last, AoT) and last.body:
            last = last.body[-1]
        if not isinstance(last, Table) or not last.value.body:
            break
        body = last.value.body
    if not body:
        return
    if isinstance(last, Whitespace):  # spaces on the last line
        if not last.as_string().endswith("\n"):
            body[-1] = (None, Whitespace(last.as_string() + "\n"))
    elif not last.trivia.trail.endswith("\n"):  # a comment, a value, or the header of an empty table
        last.trivia.trail += "\n"


def set_order(doc: TOMLDocument, ids: list[str]) -> None:
    """``provider_order`` made ``ids``. A list written with comments is edited where it stands — an id
    renamed, left out or added — so the comments beside the others stay; a new order is written anew."""
    from tomlkit.items import Array  # loaded with the document already

    current = doc.get("provider_order")
    if isinstance(current, Array) and "#" in current.as_string() and _edited_in_place(current, ids) \
            and _reads_as(current, ids):
        return
    arr = tomlkit.array()
    arr.extend(ids)
    doc["provider_order"] = arr


def written_order(doc: TOMLDocument, configured: Sequence[str]) -> list[str]:
    """The order ``doc`` says: its ``provider_order`` as written — an id whose table is missing for now (cut
    to be pasted back, an editor saving in two steps) keeps its place, as the README promises such a
    table — then each ``configured`` provider it does not name. The order an add, rename or delete edits."""
    order = plain(doc.get("provider_order", []))
    written = order if isinstance(order, list) and all(isinstance(x, str) for x in order) else []
    return list(dict.fromkeys([*written, *configured]))


def follow_order(doc: TOMLDocument, ids: list[str]) -> None:
    """After a provider was added, renamed or deleted: ``provider_order`` made ``ids`` where the file has
    one; a file without it says the order by where its tables stand, and gains one only when they no
    longer stand in that order."""
    providers = doc.get("providers")
    if "provider_order" in doc or list(providers or ()) != ids:
        set_order(doc, ids)


def _reads_as(arr: Any, ids: list[str]) -> bool:
    """Whether the edited array (a tomlkit one) writes ``ids``: tomlkit adds an id after a comment that
    follows the last one without the comma that must come between them."""
    try:
        return tomllib.loads("v = " + arr.as_string()) == {"v": ids}
    except tomllib.TOMLDecodeError:
        return False


def _edited_in_place(arr: list[Any], ids: list[str]) -> bool:
    """Turn ``arr`` (a tomlkit array) into ``ids`` by replacing, deleting and inserting ids; False
    (``arr`` untouched) when the ids that stay changed their order."""
    if not all(isinstance(x, str) for x in arr) or len(set(arr)) != len(arr):
        return False
    if len(arr) == len(ids) and all(a == b or (a not in ids and b not in arr) for a, b in zip(arr, ids, strict=True)):
        for i, pid in enumerate(ids):  # renames: each in its place, with its comment
            if arr[i] != pid:
                arr[i] = pid
        return True
    kept = [x for x in arr if x in ids]
    if kept != [x for x in ids if x in kept]:
        return False
    for i in reversed(range(len(arr))):
        if arr[i] not in ids:
            del arr[i]
    for i, pid in enumerate(ids):
        if i >= len(arr):
            arr.append(pid)
        elif arr[i] != pid:
            arr.insert(i, pid)
    return True


def remove_table(doc: TOMLDocument, parent: MutableMapping[str, Any], key: str) -> None:
    """Delete the table ``parent[key]`` with the comments written right above its header (they were about
    it). The comments at its end stand above the next table's header, so they stay, above that one; and
    the blank lines between the tables around it are the ones that stood between it and the next table
    (as when it had never been added)."""
    from tomlkit.items import Table  # loaded with the document already

    gone = parent[key]
    closing = _closing_notes(doc.as_string())
    if isinstance(gone, Table):
        order = list(_tables(doc.body))
        inside = _positions(order, [gone, *_tables(gone.value.body)])
        if inside:
            lead_in = _lead_in(doc.body, gone)
            _close_the_gap(None if lead_in is _FIRST else lead_in, order, inside[-1])
    del parent[key]
    if not parent and isinstance(parent, Table) and parent.is_super_table():  # ``[a.b]`` was all there was of a
        for name in [name for name in doc if doc[name] is parent]:
            del doc[name]
    # The comments that end the file are about it, not about the last table (tomlkit keeps them in it, its
    # sub-table written last too): they stay at the end.
    if closing.strip() and not doc.as_string().rstrip().endswith(closing.strip()):
        _end_with(doc, closing)


def _closing_notes(text: str) -> str:
    """The comments (and the blank lines among them) that end ``text``; "" when it ends with a value."""
    lines = text.splitlines(keepends=True)
    start = len(lines)
    while start > 0 and (not lines[start - 1].strip() or lines[start - 1].lstrip().startswith("#")):
        start -= 1
    notes = "".join(lines[start:])
    return notes if "#" in notes else ""


def _end_with(doc: TOMLDocument, text: str) -> None:
    """``text`` (comments and blank lines) after everything else in the file: at the end of its last table."""
    from tomlkit.items import Whitespace  # loaded with the document already

    before = doc.as_string()
    if not before.strip() or before.endswith(("\n\n", "\n\r\n")):  # a blank line there already
        text = _LEADING_BLANK_LINES.sub("", text)
    elif not before.endswith("\n"):
        text = "\n" + text
    body = doc.body
    while body and (inner := _bodies(body[-1][1])):
        body = inner[-1]
    body.append((None, Whitespace(text)))


_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\r?\n)+")


# What _lead_in finds of a table that comes first in its container: nothing of that container is above it.
_FIRST: Any = object()


def _lead_in(body: list[tuple[Any, Any]], table: Any) -> Any:
    """Where the comments and blank lines right above ``table``'s header are kept: (the items, the index
    their run ends at) — the end of whatever comes before it in the file (the last table nested in the
    table before it, or the items before it in its container; for the first table of a header-less
    ``[providers.*]`` container, what comes before that container). None: not in ``body``."""
    for i, (_, item) in enumerate(body):
        if item is table:
            return _above(body, i)
        for inner in _bodies(item):
            found = _lead_in(inner, table)
            if found is _FIRST:
                return _above(body, i) if item.is_super_table() else (inner, 0)
            if found is not None:
                return found
    return None


def _above(body: list[tuple[Any, Any]], i: int) -> Any:
    if i == 0:
        return _FIRST
    items = body
    end = i
    while end > 0 and (inner := _bodies(items[end - 1][1])):  # a table before it: its end, or its last child's
        items = inner[-1]
        end = len(items)
    return items, end


def _bodies(item: Any) -> list[list[tuple[Any, Any]]]:
    """The item lists of a table (one) or of an array of tables (one each)."""
    from tomlkit.items import AoT, Table

    if isinstance(item, Table):
        return [item.value.body]
    if isinstance(item, AoT):
        return [t.value.body for t in item.body]
    return []


def _close_the_gap(lead_in: tuple[list[tuple[Any, Any]], int] | None, order: list[Table], last: int) -> None:
    """Before a table goes (``order[last]`` is where it ends): the comments right above its header, about
    it, go too; those that end it stand above the next header and move into that header's lead-in. Of the
    blank lines around it, those after it stay (the ones set before the next table), and those above it go
    — unless nothing after it keeps a blank line (then the ones above stay between the tables left)."""
    from tomlkit.items import Comment, Whitespace  # loaded with the document already

    after = next((t for t in order[last + 1:] if not t.is_super_table()), None)
    notes = _take_notes(order[last])
    if lead_in is not None:
        items, end = lead_in
        start = end
        while start > 0 and items[start - 1][0] is None and isinstance(items[start - 1][1], (Comment, Whitespace)):
            start -= 1
        last_blank = max((n for n in range(start, end) if isinstance(items[n][1], Whitespace)), default=start - 1)
        blanks = last_blank + 1
        while blanks > start and isinstance(items[blanks - 1][1], Whitespace):
            blanks -= 1
        drop_blanks = after is None or _LEADING_BLANK_LINE.match(notes) is not None
        # Emptied in place, not deleted: a container's keys are found by their index among its items.
        for n in range(blanks if drop_blanks else last_blank + 1, end):
            items[n] = (None, Whitespace(""))
    if after is not None and notes:
        after.trivia.indent = notes + after.trivia.indent


_LEADING_BLANK_LINE = re.compile(r"[ \t]*\r?\n")


def _positions(order: list[Table], tables: Iterable[Table]) -> list[int]:
    """Where ``tables`` stand in ``order`` (the file's tables, in the file's order)."""
    wanted = {id(t) for t in tables}
    return [i for i, t in enumerate(order) if id(t) in wanted]


def _notes_to_next(order: list[Table], i: int) -> None:
    """The comments that end ``order[i]`` (written above the next table's header) moved into that header's
    own lead-in, so that what is added or removed before it leaves them above it."""
    after = next((t for t in order[i + 1:] if not t.is_super_table()), None)
    if after is not None:
        notes = _take_notes(order[i])
        after.trivia.indent = notes + after.trivia.indent


def _take_notes(table: Table) -> str:
    """Remove the comments and blank lines that end ``table``'s items and return their text."""
    from tomlkit.items import Comment, Whitespace  # loaded with the document already

    body = table.value.body
    tail = _trailing(body, (Comment, Whitespace))
    if not tail:
        return ""
    del body[len(body) - len(tail):]  # trailing items hold no key: no index of the table's keys moves
    return "".join(item.as_string() for item in tail)


def _tables(body: list[tuple[Any, Any]]) -> Iterator[Table]:
    """Every table in ``body`` (a tomlkit container's items), nested ones and those of ``[[arrays]]`` too, in
    the file's order."""
    from tomlkit.items import AoT, Table

    for _, item in body:
        for table in item.body if isinstance(item, AoT) else [item] if isinstance(item, Table) else []:
            yield table
            yield from _tables(table.value.body)


def _trailing(body: list[tuple[Any, Any]], kinds: tuple[type, ...]) -> list[Any]:
    """The items of ``kinds`` (comments, blank lines) that end ``body``, in order."""
    start = len(body)
    while start > 0 and body[start - 1][0] is None and isinstance(body[start - 1][1], kinds):
        start -= 1
    return [item for _, item in body[start:]]


def renamed_in_doc(doc: TOMLDocument, old: str, new: str) -> TOMLDocument:
    """The file with provider ``old`` named ``new``: only its key changes, wherever the file writes it
    (``[providers.old]``, ``[providers.old.model_map]``, ``old = { … }``, ``old.base_url = …``), so every
    table, comment and blank line stays where it was. Checked here, on the file as the edit finds it:
    another change (a second rename, a delete, a hand edit) may have got there first since the caller looked."""
    provider_table(doc, old)  # "unknown provider" when it is gone
    if new in doc["providers"]:
        raise ConfigError(f"a provider named {new!r} already exists")
    expected = doc.unwrap()
    expected["providers"] = {new if k == old else k: v for k, v in expected["providers"].items()}
    for part in _provider_parts(doc):
        _rename_key(part.value, old, new)
    # The document's own index still knows the old key: the text, read again, is the renamed document.
    text = doc.as_string()
    if not same_values(loads(text), expected):
        raise ConfigError("config.toml was not changed: the rename cannot be written into this file's layout; "
                          "rename the provider by hand")
    return document(text)


def _provider_parts(doc: TOMLDocument) -> Iterator[Any]:
    """Each part of the file that holds provider entries (tables split by another table are several)."""
    from tomlkit.items import InlineTable, Table  # loaded with the document already

    for key, item in doc.body:
        if key is not None and key.key == "providers" and isinstance(item, Table | InlineTable):
            yield item


def _rename_key(container: Any, old: str, new: str) -> None:
    from tomlkit.items import SingleKey  # loaded with the document already

    body = container.body
    for i, (key, item) in enumerate(body):
        if key is not None and key.key == old:
            written = key.as_string()  # with the spaces around it, as the file has them (``p1 = { … }``)
            spaced = written.replace(written.strip(), SingleKey(new).as_string(), 1)
            renamed = SingleKey(new, sep=key.sep, original=spaced)
            renamed._dotted = key.is_dotted()  # ``old.base_url = …`` stays a dotted key
            body[i] = (renamed, item)
            if hasattr(item, "invalidate_display_name"):  # its headers are written from the keys, new name and all
                item.invalidate_display_name()


def set_value(table: MutableMapping[str, Any], key: str, value: Any) -> None:
    """Set ``key`` so that the file changes no more than it must: a mapping updates the table already
    there entry by entry (its comments stay), or becomes an inline table (``model_map = { … }``); an empty
    one removes it. A new key goes after the table's last value, above the comments that end it (they
    stand over the next table's header in the file)."""
    if isinstance(value, Mapping):
        current = table.get(key)
        if not value:
            table.pop(key, None)
            return
        if isinstance(current, MutableMapping):
            for gone in [k for k in current if k not in value]:
                del current[gone]
            for k, v in value.items():
                if k not in current or current[k] != v:
                    set_value(current, k, v)
            return
        inline = tomlkit.inline_table()
        inline.update(dict(value))
        value = inline
    if key not in table and _insert_above_comments(table, key, value):
        return
    table[key] = value


def _insert_above_comments(table: MutableMapping[str, Any], key: str, value: Any) -> bool:
    """Insert ``key`` after the table's last value — above the comments that end its values (those set
    off from them by a blank line stand apart: over the next header, or on their own) and above a table
    of its own that follows them (``[providers.a.model_map]``), with no blank line of tomlkit's own.
    False: tomlkit's usual append does."""
    from tomlkit.items import AoT, Comment, Table, Whitespace  # loaded with the document already

    if not isinstance(table, Table):
        return False
    body = table.value.body
    end = next((n for n, (_, item) in enumerate(body) if isinstance(item, (Table, AoT))), len(body))
    tail = _trailing(body[:end], (Comment, Whitespace))
    if end == len(body) and not any(isinstance(item, Comment) for item in tail):
        return False
    # Comments right under the values (no blank line between) are the table's own; from the first blank
    # line on they stand apart, and a delete of this table leaves them (see _close_the_gap).
    blank = next((n for n, item in enumerate(tail) if isinstance(item, Whitespace)), 0)
    table.value._insert_at(end - len(tail) + blank, key, value)
    return True
