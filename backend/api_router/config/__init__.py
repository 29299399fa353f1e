"""``config.toml``: the settings (``schema``, defined once), the file that holds them (``file``) and the
edits the app makes to it, keeping the rest as the user wrote it (``edits``)."""

from api_router.config.edits import (
    ConfigError,
    follow_order,
    provider_table,
    remove_table,
    renamed_in_doc,
    section,
    set_order,
    set_value,
    written_order,
)
from api_router.config.file import ConfigFile, LoadReport, default_template, parse, points_at_gateway
from api_router.config.schema import (
    DISPLAY_NAME_MAX,
    LOOPBACK_HOSTS,
    PROVIDER_ID_RE,
    SECTIONS,
    USAGE_ADAPTERS,
    Config,
    ListenConfig,
    ProviderConfig,
    RequestLogConfig,
    RoutingConfig,
    UiConfig,
    as_json,
    default_of,
    field_problem,
    is_http_url,
    is_loopback,
    normalized_url,
    settings_of,
    url_problem,
)

__all__ = [
    "DISPLAY_NAME_MAX", "LOOPBACK_HOSTS", "PROVIDER_ID_RE", "SECTIONS", "USAGE_ADAPTERS",
    "Config", "ConfigError", "ConfigFile", "ListenConfig", "LoadReport", "ProviderConfig", "RequestLogConfig",
    "RoutingConfig", "UiConfig", "as_json", "default_of", "default_template", "field_problem", "follow_order",
    "is_http_url", "is_loopback", "normalized_url",
    "parse", "points_at_gateway", "provider_table", "remove_table", "renamed_in_doc", "section", "set_order",
    "set_value", "settings_of", "url_problem", "written_order",
]
