"""``python -m aioh5saver``: the command line."""

import sys

from aioh5saver.tools.cli import main

sys.exit(main())
