"""Character-level tokenizer of the CS224N experiment: PAD `□` = 0, MASK `⁇` = 1, then sorted corpus characters."""

from __future__ import annotations

import json
import os

from transformers import PreTrainedTokenizer

PAD_CHAR = "\u25a1"  # □
MASK_CHAR = "\u2047"  # ⁇


class OutOfVocabularyError(ValueError):
    """A character that the vocabulary (built from the pretraining corpus) does not contain."""

    def __init__(self, char: str, position: int | None = None, text: str | None = None):
        self.char, self.position = char, position
        where = "" if position is None else f" at character {position}"
        context = "" if text is None else f" of {text[:60]!r}{'...' if len(text) > 60 else ''}"
        super().__init__(
            f"character {char!r} (U+{ord(char):04X}){where}{context} is not in the KnowGPT "
            "vocabulary; the vocabulary is the character set of the pretraining corpus, so "
            "remove the character or rebuild the tokenizer from a corpus that contains it"
        )


class KnowGPTTokenizer(PreTrainedTokenizer):
    """One token per character; an unknown character raises `OutOfVocabularyError` (no silent UNK)."""

    vocab_files_names = {"vocab_file": "vocab.json"}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self, vocab_file: str | None = None, vocab: dict[str, int] | None = None, **kwargs
    ):
        if vocab is None:
            if vocab_file is None:
                raise ValueError(
                    "KnowGPTTokenizer needs a `vocab_file` or a `vocab` (or use from_corpus)"
                )
            with open(vocab_file, encoding="utf-8") as f:
                vocab = json.load(f)
        if vocab.get(PAD_CHAR) != 0 or vocab.get(MASK_CHAR) != 1:
            raise ValueError(
                f"vocabulary must map PAD {PAD_CHAR!r} to 0 and MASK {MASK_CHAR!r} to 1"
            )
        # Set before super().__init__, which already looks tokens up.
        self.vocab = dict(vocab)
        self.ids_to_chars = {i: c for c, i in self.vocab.items()}
        kwargs.setdefault("pad_token", PAD_CHAR)
        kwargs.setdefault("mask_token", MASK_CHAR)
        kwargs.setdefault("padding_side", "left")  # decoder-only generation pads on the left
        super().__init__(**kwargs)

    @classmethod
    def from_corpus(cls, path_or_text: str | os.PathLike, **kwargs) -> KnowGPTTokenizer:
        """Build the vocabulary from a corpus file (or the corpus text itself): PAD, MASK, sorted characters.

        Args:
            path_or_text: path of a UTF-8 corpus file, or the corpus as a string.
        """
        if isinstance(path_or_text, os.PathLike) or os.path.isfile(path_or_text):
            # utf-8-sig: a leading BOM is no character of the corpus (as in data/readers.py)
            with open(path_or_text, encoding="utf-8-sig") as f:
                text = f.read()
        else:
            text = str(path_or_text)
        chars = sorted(set(text) - {PAD_CHAR, MASK_CHAR})
        vocab = {PAD_CHAR: 0, MASK_CHAR: 1, **{c: i + 2 for i, c in enumerate(chars)}}
        return cls(vocab=vocab, **kwargs)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return list(text)

    def _convert_token_to_id(self, token: str) -> int:
        try:
            return self.vocab[token]
        except KeyError:
            raise OutOfVocabularyError(token) from None

    def _convert_id_to_token(self, index: int) -> str:
        try:
            return self.ids_to_chars[index]
        except KeyError:
            raise ValueError(
                f"token id {index} is outside the vocabulary (size {self.vocab_size})"
            ) from None

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def encode_chars(self, text: str) -> list[int]:
        """Fast path for data pipelines: one id per character, special characters included."""
        vocab = self.vocab
        try:
            return [vocab[c] for c in text]
        except KeyError:
            pos = next(i for i, c in enumerate(text) if c not in vocab)
            raise OutOfVocabularyError(text[pos], pos, text) from None

    def decode_chars(self, ids) -> str:
        """Inverse of `encode_chars` (keeps PAD and MASK characters)."""
        return "".join(self._convert_id_to_token(int(i)) for i in ids)

    def save_vocabulary(
        self, save_directory: str, filename_prefix: str | None = None
    ) -> tuple[str]:
        name = (filename_prefix + "-" if filename_prefix else "") + self.vocab_files_names[
            "vocab_file"
        ]
        path = os.path.join(save_directory, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.vocab, f, ensure_ascii=False, indent=0)
        return (path,)
