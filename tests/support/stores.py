"""Stand-ins for the parts of the store a unit under test uses, in memory."""

from __future__ import annotations


class AffinityStore:
    """The part of the store SessionAffinity uses."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, int]] = {}
        self.meta: dict[str, str] = {}
        self.saves: list[tuple[str, str, int]] = []

    def load_affinities(self, since_ms: int) -> list[tuple[str, str, int]]:
        return [(s, p, t) for s, (p, t) in self.rows.items() if t >= since_ms]

    def save_affinity(self, session: str, provider: str, unix_ms: int) -> None:
        self.rows[session] = (provider, unix_ms)
        self.saves.append((session, provider, unix_ms))

    def forget_affinities(self, sessions: list[str]) -> None:
        for s in sessions:
            self.rows.pop(s, None)

    def forget_all_affinities(self) -> None:
        self.rows.clear()

    def get_meta(self, key: str) -> str | None:
        return self.meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self.meta[key] = value
