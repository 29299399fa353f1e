"""The control API: every operation the UI (and the tray) can perform (``api``), and the one dispatcher
both transports go through (``registry``)."""

from api_router.control.api import Control
from api_router.control.registry import ControlError, Refused, Registry, UnknownMethod, exposed, unsaved_change

__all__ = ["Control", "ControlError", "Refused", "Registry", "UnknownMethod", "exposed", "unsaved_change"]
