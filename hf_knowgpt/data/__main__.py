"""`python -m hf_knowgpt.data ...` is `knowgpt data ...`."""

import sys

from .commands import main

sys.exit(main())
