"""`python -m bifrost_py ...` is `bifrost-py ...`."""

import sys

from .cli import main

sys.exit(main())
