"""`accelerate launch scripts/evaluate_model.py [options]` (not evaluate.py: that would shadow the `evaluate` library) runs `knowgpt evaluate [options]` (see `knowgpt evaluate --help`)."""

import sys

from hf_knowgpt.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
