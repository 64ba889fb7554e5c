"""`accelerate launch scripts/pretrain.py [options]` runs `knowgpt pretrain [options]` (see `knowgpt pretrain --help`)."""

import sys

from hf_knowgpt.cli import main

if __name__ == "__main__":
    sys.exit(main(["pretrain", *sys.argv[1:]]))
