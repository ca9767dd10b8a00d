"""Allow ``python -m breedomics``."""

import sys

from breedomics.cli import main

sys.exit(main())
