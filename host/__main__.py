"""`python -m host` runs the `host` command."""

import sys

from host.cli import main

sys.exit(main())
