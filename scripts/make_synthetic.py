"""Regenerate the built-in synthetic corpus in `hf_knowgpt/data/corpus/` (thin wrapper of hf_knowgpt.data.synthetic).

Usage, from the repository root (the committed files use the default arguments):

    python scripts/make_synthetic.py --out_dir hf_knowgpt/data/corpus

Any other --out_dir, --n_people, --n_train, --n_dev, --n_unseen or --seed writes a
different corpus; tests/test_synthetic.py checks that hf_knowgpt/data/corpus/ equals a fresh
generation with the defaults.
"""

from hf_knowgpt.data.synthetic import main

if __name__ == "__main__":
    main()
