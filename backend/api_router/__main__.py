from api_router.entry import run

raise SystemExit(run())
