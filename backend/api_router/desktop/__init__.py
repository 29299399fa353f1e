"""The desktop shell: pywebview window, pystray tray icon, single-instance handling."""
