from resummarize.cli import main

raise SystemExit(main())
