"""``python -m stetho_rt`` runs the command line."""

from stetho_rt.cli import main

raise SystemExit(main())
