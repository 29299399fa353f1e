"""Usage-panel answers the fake providers give."""

from __future__ import annotations


def new_api(available: float, used: float = 100.0) -> dict:
    return {"success": True, "data": {"total_granted": available + used, "total_used": used,
                                      "total_available": available, "unlimited_quota": False, "expires_at": 0}}
