"""Entry point for `python -m opcoverage`."""

import sys

from opcoverage.cli import main

sys.exit(main())
