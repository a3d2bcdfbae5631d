from weboslb.main import main

raise SystemExit(main())
