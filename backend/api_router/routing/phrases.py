"""Words about providers that are kept to be shown later (why a provider serves): each provider in
them is shown under the name it has when they are read, and a change of its id is followed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Mention:
    """A provider named in a phrase (None: no provider)."""

    provider: str | None


@dataclass(frozen=True, slots=True)
class Phrase:
    parts: tuple[str | Mention, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.parts)

    def render(self, name: Callable[[str | None], str]) -> str:
        return "".join(part if isinstance(part, str) else name(part.provider) for part in self.parts)

    def mentions(self, provider: str) -> bool:
        return any(isinstance(part, Mention) and part.provider == provider for part in self.parts)

    def renamed(self, old: str, new: str) -> Phrase:
        return Phrase(tuple(Mention(new) if isinstance(part, Mention) and part.provider == old else part
                            for part in self.parts))


def say(template: str, *args: str | Mention | Phrase) -> Phrase:
    """``template`` with each ``{}`` taken by the next argument. An argument's text stays as it is: braces
    in an upstream error are only characters here."""
    pieces = template.split("{}")
    if len(pieces) != len(args) + 1:
        raise ValueError(f"{template!r} has {len(pieces) - 1} places for {len(args)} arguments")
    parts: list[str | Mention] = [pieces[0]]
    for arg, piece in zip(args, pieces[1:], strict=True):
        parts.extend(arg.parts if isinstance(arg, Phrase) else (arg,))
        parts.append(piece)
    return Phrase(tuple(part for part in parts if part != ""))


def joined(separator: str, phrases: Iterable[Phrase]) -> Phrase:
    parts: list[str | Mention] = []
    for phrase in phrases:
        if parts:
            parts.append(separator)
        parts.extend(phrase.parts)
    return Phrase(tuple(parts))
