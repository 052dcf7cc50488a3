"""`python -m bench [--quick]`: see bench/run.py (scripts/bench is the way in)."""
import sys

from bench.run import main

sys.exit(main())
