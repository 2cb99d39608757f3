from noisebudget.cli import main

raise SystemExit(main())
