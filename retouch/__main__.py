from retouch.main import main

raise SystemExit(main())
