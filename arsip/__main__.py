from arsip.cli import main

raise SystemExit(main())
