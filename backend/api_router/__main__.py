from api_router.cli import main

raise SystemExit(main())
