"""`accelerate launch scripts/demo.py [options]` runs `knowgpt demo [options]` (see `knowgpt demo --help`)."""

import sys

from hf_knowgpt.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
