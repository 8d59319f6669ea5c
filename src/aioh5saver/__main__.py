"""``python -m aioh5saver``: the command line."""

import sys

from .cli import main

sys.exit(main())
