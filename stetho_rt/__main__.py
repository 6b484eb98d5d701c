"""``python -m stetho_rt`` runs the command line (through the console script's entry point)."""

from stetho_rt.launch import main

raise SystemExit(main())
