"""``python -m backend serve ...``: the same as the ``vellum`` console script."""

import sys

from backend.cli import main

sys.exit(main())
