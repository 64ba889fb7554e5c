"""`accelerate launch scripts/finetune.py [options]` runs `knowgpt finetune [options]` (see `knowgpt finetune --help`)."""

import sys

from hf_knowgpt.cli import main

if __name__ == "__main__":
    sys.exit(main(["finetune", *sys.argv[1:]]))
