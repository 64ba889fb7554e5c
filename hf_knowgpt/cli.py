"""The `knowgpt` command: pretrain | finetune | evaluate | baseline | demo | probe | report | export | push | data | ask | env.

Bad input (a malformed file, a missing file, a checkpoint of another variant, an unknown flag) ends
with one line on stderr and a non-zero exit; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys

USAGE = """usage: knowgpt <command> [options]   (knowgpt <command> --help for each command's options)

  pretrain   span-corruption pretraining on a corpus (flags: knowgpt pretrain --help; recipes: hf_knowgpt/training/recipes.py)
  finetune   birth-place finetuning, from scratch or --pretrained_model; evaluates on --eval_file
  evaluate   --model_dir D --eval_file F [--output_file P]: greedy answers and the course's score line
             (--predictions_file P instead of --model_dir: score predictions made elsewhere)
  baseline   --eval_file F [--answer London]: always answer the same place
  demo       the main job: pretrain, finetune and evaluate on the built-in synthetic corpus
  probe      --model_dir D --corpus_file wiki.txt --qa_file F: share of biographies it completes with the place
             (--prompt '{name} was born in ' instead of --corpus_file: the same people asked in fixed words;
              --cloze: the place blanked out of the biography, to be filled in)
  report     RUN_DIR: plots (accuracy vs coverage, reliability, training curves) and a summary
  export     RUN_OR_MODEL_DIR FOLDER: the folder `push` would upload
  push       RUN_OR_MODEL_DIR REPO_ID: publish to the Hugging Face Hub
  data       charcorruption|namedata FILE, or validate DATA_DIR
  ask        "Where was X born?" ...: answers with their confidence (default: the best released model;
             questions as arguments or one per line on stdin)
  env        the versions, device and threads to paste into a bug report
"""


def _train(job: str, argv: list[str]) -> int:
    from .training.args import parse_args
    from .training.trainer import train

    model_args, data_args, train_args = parse_args(job, argv)
    out = train(job, model_args, data_args, train_args)
    if job == "finetune" and data_args.eval_file:
        from .evaluation.scoring import evaluate_file, london_baseline
        from .utils import atomic_write_json, provenance

        eval_file = data_args.eval_file
        result = evaluate_file(out / "model", eval_file, out / "eval" / "dev_predictions.txt")
        # The card and reports read this; the baseline and provenance keep it independent of the data file.
        result["london_baseline"] = london_baseline(eval_file)["accuracy"]
        atomic_write_json(
            out / "eval_results.json", {"dev": {**result, "provenance": provenance()}}
        )
        if result.get("course_line"):
            print(result["course_line"])
    if train_args.push_to_hub:
        from .hub.publish import push

        if not train_args.hub_model_id:
            raise ValueError("--push_to_hub needs --hub_model_id")
        print(push(out, train_args.hub_model_id, private=train_args.hub_private))
    return 0


def _evaluate(argv: list[str]) -> int:
    from .evaluation.scoring import evaluate_file, score_file
    from .utils import atomic_write_json, provenance, refuse_overwriting_inputs, resolve_model_dir

    p = argparse.ArgumentParser(prog="knowgpt evaluate")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model_dir", help="model folder or run directory")
    source.add_argument(
        "--predictions_file",
        help="score these predictions (one per line, made elsewhere) instead of a model's",
    )
    p.add_argument("--eval_file", required=True, help="QA TSV, or a questions-only file")
    p.add_argument(
        "--output_file", help="predictions, one per line (plus a .jsonl with confidences)"
    )
    p.add_argument("--score_file", help="also write the score as JSON, with its provenance")
    p.add_argument("--batch_size", type=int, default=256)
    p.add_argument("--min_confidence", type=float, help="answer <unknown> below this confidence")
    p.add_argument("--num_alternatives", type=int, default=0, help="beam alternatives per question")
    a = p.parse_args(argv)
    written = {"--output_file": a.output_file, "--score_file": a.score_file}
    if a.output_file:
        written["--output_file (its .jsonl)"] = a.output_file + ".jsonl"
    refuse_overwriting_inputs(written, [a.eval_file, a.predictions_file, a.model_dir])
    if a.predictions_file:
        if a.output_file:
            p.error(
                "--output_file writes a model's predictions; with --predictions_file use --score_file"
            )
        result = score_file(a.predictions_file, a.eval_file)
    else:
        result = evaluate_file(
            resolve_model_dir(a.model_dir),
            a.eval_file,
            a.output_file,
            batch_size=a.batch_size,
            min_confidence=a.min_confidence,
            num_alternatives=a.num_alternatives,
        )
    if a.score_file:
        atomic_write_json(a.score_file, {**result, "provenance": provenance()})
    if result.get("course_line"):
        print(result["course_line"])
    else:
        print(
            f"wrote {result['n_predictions']} predictions to {a.output_file} (no answers in {a.eval_file}: no score)"
        )
    return 0


def _baseline(argv: list[str]) -> int:
    from pathlib import Path

    from .data.readers import data_dir_vocabulary
    from .evaluation.scoring import course_line, london_baseline

    p = argparse.ArgumentParser(prog="knowgpt baseline")
    p.add_argument(
        "--eval_file",
        required=True,
        help="QA TSV (beside a wiki.txt: checked against that data's vocabulary)",
    )
    p.add_argument("--answer", default="London")
    a = p.parse_args(argv)
    tokenizer = data_dir_vocabulary(Path(a.eval_file).parent)
    result = london_baseline(a.eval_file, answer=a.answer, tokenizer=tokenizer)
    print(course_line(result["correct"], result["total"]))
    return 0


def _demo(argv: list[str]) -> int:
    from .lab.demo import main as demo_main

    return demo_main(argv)


def _probe(argv: list[str]) -> int:
    from .evaluation.probe import main as probe_main

    return probe_main(argv)


def _report(argv: list[str]) -> int:
    from .evaluation.report import main as report_main

    return report_main(argv)


def _export(argv: list[str]) -> int:
    from .hub.publish import export

    p = argparse.ArgumentParser(prog="knowgpt export")
    p.add_argument("src", help="run directory or model folder")
    p.add_argument("folder", help="where to write the Hub-ready folder")
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    print(export(a.src, a.folder, overwrite=a.overwrite))
    return 0


def _push(argv: list[str]) -> int:
    from .hub.publish import push

    p = argparse.ArgumentParser(prog="knowgpt push")
    p.add_argument("src", help="run directory or model folder")
    p.add_argument("repo_id", help="e.g. your-name/knowgpt-vanilla")
    p.add_argument("--private", action="store_true")
    p.add_argument("--revision", help="branch to push to (created if missing)")
    p.add_argument("--commit_message")
    p.add_argument("--create_pr", action="store_true")
    a = p.parse_args(argv)
    print(
        push(
            a.src,
            a.repo_id,
            private=a.private,
            revision=a.revision,
            commit_message=a.commit_message,
            create_pr=a.create_pr,
        )
    )
    return 0


def _data(argv: list[str]) -> int:
    from .data.commands import main as data_main

    return data_main(argv)


def _ask(argv: list[str]) -> int:
    from .evaluation.answers import ABSTAIN, load_model, predict
    from .hub.released import resolve_model

    p = argparse.ArgumentParser(prog="knowgpt ask")
    p.add_argument("questions", nargs="*", help="e.g. 'Where was Ada Lovelace born?' (none: stdin)")
    p.add_argument("--model", help="a model folder or run directory, or a released model's name")
    p.add_argument("--min_confidence", type=float, help=f"answer {ABSTAIN} below this confidence")
    a = p.parse_args(argv)
    questions = a.questions or [line.strip() for line in sys.stdin if line.strip()]
    if not questions:
        p.error("no question given")
    model, tokenizer = load_model(resolve_model(a.model))
    for pred in predict(model, tokenizer, questions, min_confidence=a.min_confidence):
        print(f"{pred.question}\t{pred.answer}\t{pred.confidence:.3f}")
    return 0


def environment() -> dict[str, str]:
    """What a bug report needs (like `transformers env`): versions, device, threads, platform."""
    import importlib.metadata
    import platform

    import torch

    from . import __version__
    from .utils import cpu_has_native_bf16, machine_description

    info = {"hf_knowgpt": __version__, "python": platform.python_version()}
    for dist in ("torch", "transformers", "datasets", "accelerate", "evaluate", "huggingface_hub",
                 "peft"):  # fmt: skip
        info[dist] = importlib.metadata.version(dist)
    info["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    info["machine"] = machine_description()
    info["threads"] = str(torch.get_num_threads())
    info["cpu bf16"] = "native" if cpu_has_native_bf16() else "emulated (slower than fp32)"
    info["platform"] = platform.platform()
    return info


def _env(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="knowgpt env", description=environment.__doc__).parse_args(argv)
    for key, value in environment().items():
        print(f"- {key}: {value}")
    return 0


COMMANDS = {
    "pretrain": lambda argv: _train("pretrain", argv),
    "finetune": lambda argv: _train("finetune", argv),
    "evaluate": _evaluate,
    "baseline": _baseline,
    "demo": _demo,
    "probe": _probe,
    "report": _report,
    "export": _export,
    "push": _push,
    "data": _data,
    "env": _env,
    "ask": _ask,
}


def _known_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ValueError, OSError, KeyError]
    try:
        from .hub.publish import HubError

        errors.append(HubError)
    except ImportError:
        pass
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    if not argv or argv[0] in {"-h", "--help"}:
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"knowgpt: error: unknown command {command!r}\n{USAGE}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Library progress bars (weight loading) would put extra lines before a one-line error.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        return COMMANDS[command](rest)
    except _known_errors() as e:
        if debug:
            raise
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"knowgpt {command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"knowgpt {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
