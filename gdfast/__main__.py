"""``python -m gdfast``: the same command line as the ``gdfast`` console script."""
import sys

from .cli import main

sys.exit(main())
