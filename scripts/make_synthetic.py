"""Regenerate the built-in synthetic corpus in `data/synthetic/` (thin wrapper of hf_knowgpt.synthetic).

Usage, from the repository root (the committed files use the default arguments):

    python scripts/make_synthetic.py --out_dir data/synthetic

Any other --out_dir, --n_people, --n_train, --n_dev, --n_unseen or --seed writes a
different corpus; tests/test_synthetic.py checks that data/synthetic/ equals a fresh
generation with the defaults.
"""

from hf_knowgpt.synthetic import main

if __name__ == "__main__":
    main()
