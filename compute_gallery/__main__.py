"""``python -m compute_gallery``: the same as the ``compute-gallery`` command."""

import sys

from .cli import main

sys.exit(main())
