"""`accelerate launch scripts/baseline.py [options]` runs `knowgpt baseline [options]` (see `knowgpt baseline --help`)."""

import sys

from hf_knowgpt.cli import main

if __name__ == "__main__":
    sys.exit(main(["baseline", *sys.argv[1:]]))
