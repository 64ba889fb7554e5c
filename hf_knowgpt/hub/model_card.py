"""The model card of an exported KnowGPT model: built with `ModelCard`/`ModelCardData` from the run's own records.

Its metadata carries the measured dev accuracy beside the London baseline (`model-index`); its text says what
the model is, how it was trained, how to query it, and what it cannot do.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

from ..evaluation.scoring import london_baseline
from ..evaluation.stats import percent

_TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{20,}")  # what a Hugging Face access token looks like


def redact(text: str) -> str:
    return _TOKEN_PATTERN.sub("hf_***", text)


def _parameter_count(model_dir: Path) -> int:
    """Number of parameters stored in model.safetensors (read from the header, no weights loaded)."""
    from safetensors import safe_open

    with safe_open(model_dir / "model.safetensors", framework="pt") as f:
        return sum(math.prod(f.get_slice(name).get_shape()) for name in f.keys())


# ---------------------------------------------------------------------------- model card


def _limitations(config: dict, synthetic: bool) -> str:
    corpus = (
        "The synthetic corpus is made-up people and places, so its answers say nothing about real "
        "people."
        if synthetic
        else "The CS224N corpus is short English Wikipedia snippets, so what it stored inherits "
        "Wikipedia's coverage and biases (who has an article, which places are named)."
    )
    return f"""\
- **It answers confidently for people it never saw.** Asked about anyone, it writes a plausible
  place; without pretraining text about that person the answer is a guess.
- **Recalled and invented answers look the same.** Nothing in the output tells a stored fact from
  a made-up one. `hf_knowgpt` reports each answer's probability and can abstain below a threshold,
  but how well that separates recalled from invented answers has to be measured for each model.
- **It is tiny.** A {config.get("n_layer")}-layer character-level model with a
  {config.get("block_size")}-character context: it reads one short question and knows only what its
  small pretraining corpus said.
- **Its knowledge is biased.** {corpus} Do not use it to look up facts about real people.
"""


def usage_snippet(repo: str, question: str = "Where was Bryan Dubreuiel born?") -> str:
    """Python code that loads the model from `repo` and answers `question` (shown in the card)."""
    return f"""\
from transformers import AutoModelForCausalLM, AutoTokenizer

repo = {json.dumps(repo)}
model = AutoModelForCausalLM.from_pretrained(repo, trust_remote_code=True)
tokenizer = AutoTokenizer.from_pretrained(repo, trust_remote_code=True)

prompt = {json.dumps(question + "⁇", ensure_ascii=False)}  # the question, then ⁇ (U+2047)
inputs = tokenizer(prompt, return_tensors="pt")
output = model.generate(**inputs, max_new_tokens=32, do_sample=False)
continuation = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :])
answer = continuation.split("⁇")[0]  # the answer ends at the next ⁇
print(answer)
"""


def pipeline_snippet(repo: str, question: str = "Where was Bryan Dubreuiel born?") -> str:
    """The same with a text-generation pipeline, which must keep the special tokens to show the ⁇."""
    return f"""\
from transformers import pipeline

generator = pipeline("text-generation", model={json.dumps(repo)}, trust_remote_code=True)
prompt = {json.dumps(question + "⁇", ensure_ascii=False)}
out = generator(
    prompt, max_new_tokens=32, do_sample=False, return_full_text=False, skip_special_tokens=False
)
answer = out[0]["generated_text"].split("⁇")[0]
"""


def _dataset(run_info: dict, split_result: dict) -> tuple[str, str]:
    """(dataset type, readable name) of an evaluation file."""
    where = f"{split_result.get('eval_file', '')} {run_info.get('corpus', '')}".lower()
    if "synth" in where:
        return "synthetic-biographies", "synthetic biographies"
    return "cs224n-birth-places", "CS224N birth places"


def _london(split_result: dict) -> float | None:
    """The London baseline recorded with the result, else measured on its eval file if readable."""
    if split_result.get("london_baseline") is not None:
        return float(split_result["london_baseline"])
    eval_file = split_result.get("eval_file")
    if eval_file and Path(eval_file).is_file():
        try:
            return london_baseline(eval_file)["accuracy"]
        except ValueError:  # a questions-only or malformed file has no baseline
            return None
    return None


def _evaluations(run_info: dict, eval_results: dict | None) -> list[dict]:
    """One row per scored split: split, dataset, accuracy, correct, total, london, eval_file."""
    rows = []
    for split, result in (eval_results or {}).items():
        if not isinstance(result, dict) or result.get("accuracy") is None:
            continue
        dataset_type, dataset_name = _dataset(run_info, result)
        rows.append(
            {
                "split": split,
                "dataset_type": dataset_type,
                "dataset_name": f"{dataset_name} ({split})",
                "accuracy": float(result["accuracy"]),
                "correct": result.get("correct"),
                "total": result.get("total"),
                "london": _london(result),
                "eval_file": Path(result["eval_file"]).name if result.get("eval_file") else "",
            }
        )
    return rows


def _eval_results(rows: list[dict]):
    from huggingface_hub import EvalResult

    results = []
    for row in rows:
        common = dict(
            task_type="text-generation",
            task_name="Birth-place question answering",
            dataset_type=row["dataset_type"],
            dataset_name=row["dataset_name"],
            dataset_split=row["split"],
            metric_type="accuracy",
        )
        results.append(
            EvalResult(**common, metric_name="Exact-match accuracy", metric_value=row["accuracy"])
        )
        if row["london"] is not None:
            results.append(
                EvalResult(
                    **common,
                    metric_name="London baseline accuracy (always answers London)",
                    metric_value=row["london"],
                )
            )
    return results


def _training_text(run_info: dict) -> str:
    if not run_info:
        return (
            "No `run_info.json` was found with this model, so how it was trained is not recorded.\n"
        )
    prov = run_info.get("provenance") or {}

    def get(key, source=run_info):
        value = source.get(key)
        return "unknown" if value is None else str(value).replace("|", "\\|")  # keep the table

    job = run_info.get("job", "unknown")
    train_args = (run_info.get("args") or {}).get("train")
    budget = (
        "unknown"
        if train_args is None
        else f"{train_args['max_minutes']} minutes"
        if train_args.get("max_minutes")
        else "none (the full recipe)"
    )
    start = (
        f"finetuned from `{run_info['pretrained_from']}`"
        if run_info.get("pretrained_from")
        else (
            "pretrained from random initialisation" if job == "pretrain" else "trained from scratch"
        )
    )
    return f"""\
This is a **{job}** run, {start}.

| | |
|---|---|
| recipe | `{get("recipe")}` |
| corpus | `{get("corpus")}` |
| training file | `{get("train_file")}` |
| epochs / optimizer steps / tokens | {get("epochs")} / {get("steps")} / {get("tokens")} |
| batch size, learning rate, schedule | {get("batch_size")}, {get("learning_rate")}, `{get("lr_schedule")}` |
| training time | {get("train_minutes")} minutes (wall clock {get("wall_seconds", prov)} s) |
| time budget | {budget} |
| processes, precision | {get("num_processes")}, {get("mixed_precision")} |
| hardware | {get("machine", prov)} |
| date | {get("date", prov)} |
| code | hf_knowgpt, git commit `{get("git_commit", prov)}` |
| command | `{get("command", prov)}` |
"""


def _evaluation_text(rows: list[dict]) -> str:
    if not rows:
        return (
            "No evaluation results were recorded for this run (no `eval_results.json` with an "
            "accuracy), so this card makes no accuracy claim.\n"
        )
    lines = [
        "Exact-match accuracy of the greedy answer (the text before the next `⁇`), measured by "
        '`knowgpt evaluate`; the London baseline answers "London" to every question.',
        "",
        "| split | file | accuracy | correct / total | London baseline |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['split']} | `{r['eval_file']}` | **{percent(r['accuracy'])}** | "
            f"{r['correct']} / {r['total']} | {percent(r['london'])} |"
        )
    return "\n".join(lines) + "\n"


def _confidence_text(report: dict | None) -> str:
    """Accuracy of the most confident answers (from `knowgpt report`), or nothing without a report."""
    if not report:
        return ""
    dev = report["dev"]
    rows = "\n".join(
        f"| {100 * c['coverage']:.0f} % | {percent(c['accuracy'])} | {c['threshold']:.3g} |"
        for c in dev["coverage"]
    )
    return f"""## Knowing what it knows

Each answer's confidence is the probability of the whole answer. Answering only the most confident
questions (`knowgpt evaluate --min_confidence T`; the rest get `<unknown>`) gives, on {dev["n"]} dev questions:

| answered | accuracy | threshold T |
|---|---|---|
{rows}

![accuracy vs coverage](accuracy_coverage.png)

"""


def build_model_card(
    model_dir: str | os.PathLike,
    run_info: dict | None,
    eval_results: dict | None,
    repo_id: str | None = None,
    confidence: dict | None = None,
):
    """The model card (a `huggingface_hub.ModelCard`) of a saved model and its run's records.

    Args:
        model_dir: the saved model folder (config.json, model.safetensors).
        run_info: the trainer's run_info.json, or None.
        eval_results: eval_results.json ({"dev": {"accuracy", "correct", "total", ...}}), or None.
        repo_id: the Hub repository, for the model name and the usage example.
        confidence: the run's `knowgpt report` (report.json), for the accuracy-coverage section.
    """
    from huggingface_hub import ModelCard, ModelCardData

    model_dir, run_info = Path(model_dir), run_info or {}
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    attention = config.get("attention_type", "vanilla")
    rows = _evaluations(run_info, eval_results)
    name = repo_id or f"knowgpt-{attention}"
    datasets = run_info.get("datasets")
    data = ModelCardData(
        language="en",
        license="mit",
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=["knowgpt", "custom_code", "character-level", "cs224n", f"{attention}-attention"],
        datasets=datasets if isinstance(datasets, list) and datasets else None,
        model_name=name if rows else None,
        eval_results=_eval_results(rows) or None,
    )
    synthetic = any(r["dataset_type"].startswith("synthetic") for r in rows) or (
        "synth" in str(run_info.get("corpus", "")).lower()
    )
    shape = f"{config.get('n_layer')} layers, {config.get('n_head')} heads, n_embd {config.get('n_embd')}"
    if attention == "perceiver":
        shape += f", {config.get('bottleneck_dim')} bottleneck slots"
    body = f"""
# {name}

A small **character-level GPT** from the Stanford CS224N experiment "Self-Attention, Transformers and
Pretraining": can a model store facts (birth places) while pretraining on text, and give them back
after finetuning on questions? Attention variant: **{attention}**; {shape}, context of
{config.get("block_size")} characters, vocabulary of {config.get("vocab_size")} characters,
**{_parameter_count(model_dir):,} parameters**. It was trained with the `hf_knowgpt` package,
whose model code ships with the weights.

## How to use

The model reads `question⁇` and writes the answer followed by another `⁇`:

```python
{usage_snippet(repo_id or "path/to/this/folder").rstrip()}
```

or with a pipeline:

```python
{pipeline_snippet(repo_id or "path/to/this/folder").rstrip()}
```

`trust_remote_code=True` is needed because the model code ships with the weights
(`configuration_knowgpt.py`, `modeling_knowgpt.py`, `tokenization_knowgpt.py`); read them first.
Characters outside the vocabulary raise an error rather than being silently replaced.

## Training

{_training_text(run_info)}
## Evaluation

{_evaluation_text(rows)}
{_confidence_text(confidence)}## Limitations

{_limitations(config, synthetic)}"""
    return ModelCard(redact(f"---\n{data.to_yaml()}\n---\n{body}"))


# ---------------------------------------------------------------------------- export and push
