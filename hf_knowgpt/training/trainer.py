"""The training loop: `accelerate`-driven pretraining and finetuning of KnowGPT.

One `train()` runs on CPU, one GPU, or many processes under `accelerate launch`. Checkpoints are
`Accelerator.save_state` folders written atomically (temporary name, then rename); a resumed run
continues with the same data order, learning rate and step.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..data.augment import augmented_documents
from ..data.collators import PackedCollator, PaddedCollator, TrimmedCollator, count_targets
from ..data.formats import qa_row
from ..data.pipelines import birthplace_dataset, pretraining_dataset, set_epoch, train_pairs
from ..data.readers import read_corpus, read_qa, vocabulary
from ..data.synthetic import BUILTIN_DATA_DIR
from ..evaluation.answers import load_model, predict, read_config
from ..evaluation.probe import storage_accuracy, storage_cases
from ..evaluation.scoring import score
from ..model.configuration_knowgpt import KnowGPTConfig
from ..model.modeling_knowgpt import KnowGPTForCausalLM
from ..model.tokenization_knowgpt import KnowGPTTokenizer
from ..utils import (
    atomic_directory,
    atomic_write_json,
    bf16_is_native,
    git_commit,
    provenance,
    refuse_overwriting_inputs,
    resolve_model_dir,
)
from .args import DataArguments, ModelArguments, TrainArguments
from .checkpoints import (
    RunLock,
    latest_checkpoint,
    read_checkpoint,
    save_checkpoint,
    truncate_metrics,
)
from .optimizers import hidden_matrices, make_optimizer, newton_schulz_dtype
from .schedules import LRSchedule

logger = logging.getLogger(__name__)


def resolve_data_files(data_args: DataArguments) -> None:
    """Fill corpus/train/eval file defaults from data_dir (the built-in synthetic corpus if none)."""
    data_dir = Path(data_args.data_dir) if data_args.data_dir else BUILTIN_DATA_DIR
    if data_args.data_dir and not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: data directory not found")
    data_args.corpus_file = data_args.corpus_file or str(data_dir / "wiki.txt")
    data_args.train_file = data_args.train_file or str(data_dir / "birth_places_train.tsv")
    if data_args.eval_file is None and (data_dir / "birth_dev.tsv").is_file():
        data_args.eval_file = str(data_dir / "birth_dev.tsv")


def build_model(
    job: str, model_args: ModelArguments, corpus_file: str, train_file: str | None = None
):
    """(tokenizer, model): fresh for pretraining/scratch finetuning, loaded for finetuning after pretraining."""
    if model_args.pretrained_model:
        model_dir = resolve_model_dir(model_args.pretrained_model)
        config = read_config(model_dir)
        wanted = model_args.attention_type
        if wanted is not None and wanted != config.attention_type:
            raise ValueError(
                f"{model_dir}: checkpoint of the {config.attention_type!r} variant, but --attention_type {wanted} "
                "was asked for; drop --attention_type or pick a checkpoint of that variant"
            )
        model_args.attention_type = config.attention_type
        if model_args.dropout is not None:  # asked for (a flag or the recipe); else the model's own
            config.embd_pdrop = config.resid_pdrop = config.attn_pdrop = model_args.dropout
        model, tokenizer = load_model(model_dir, config=config)  # in eval mode: the loop trains it
        return tokenizer, model
    model_args.attention_type = model_args.attention_type or "vanilla"
    dropout = 0.1 if model_args.dropout is None else model_args.dropout
    # The corpus and the train file this run reads (a malformed one is a DataError naming it).
    tokenizer = vocabulary(corpus_file, train_file)
    config = KnowGPTConfig(
        vocab_size=len(tokenizer),
        block_size=model_args.block_size,
        n_layer=model_args.n_layer,
        n_head=model_args.n_head,
        n_embd=model_args.n_embd,
        embd_pdrop=dropout,
        resid_pdrop=dropout,
        attn_pdrop=dropout,
        attention_type=model_args.attention_type,
        bottleneck_dim=model_args.bottleneck_dim,
    )
    return tokenizer, KnowGPTForCausalLM(config)


def build_dataset(job: str, data_args: DataArguments, tokenizer, block_size: int, seed: int):
    """(dataset, tokens the course counts per example). Pretraining may mix in QA pairs and augmentations."""
    if job == "finetune":
        # The course's finetuning rows are block_size - 1 long; its schedule counts each of their positions.
        rows = birthplace_dataset(
            data_args.train_file, tokenizer, block_size, data_args.question_forms
        )
        return rows, block_size - 1
    extra: list[str] = []
    if data_args.augment:
        docs = read_corpus(data_args.corpus_file)
        extra += augmented_documents(docs, data_args.augment, seed, data_args.augment_full_names)
    if data_args.mix_qa:
        pairs = train_pairs(data_args.train_file, tokenizer, block_size, data_args.question_forms)
        extra += [qa_row(q, a) for q, a in pairs] * data_args.qa_repeats
    dataset = pretraining_dataset(
        data_args.corpus_file,
        tokenizer,
        block_size,
        seed,
        data_args.objective,
        data_args.window,
        extra or None,
        data_args.salient_spans,
    )
    return dataset, block_size


def frozen_names(model, freeze: str) -> set[str]:
    """The parameters `--freeze` keeps as loaded (see `TrainArguments.freeze`)."""
    names = [name for name, _ in model.named_parameters()]
    embeddings = {n for n in names if n.startswith(("transformer.tok_emb.", "transformer.pos_emb"))}
    if freeze == "none":
        return set()
    if freeze == "embeddings":
        return embeddings
    if freeze == "mlp":
        return {n for n in names if ".mlp." in n}
    if freeze == "lower_half":
        lower = tuple(f"transformer.blocks.{i}." for i in range(model.config.n_layer // 2))
        return embeddings | {n for n in names if n.startswith(lower)}
    raise ValueError(f"freeze must be none, embeddings, mlp or lower_half, got {freeze!r}")


def with_lora(model, args: TrainArguments):
    """The pretrained model with LoRA adapters (peft) on every Linear of its blocks (`--lora_rank`):
    only the adapters train, so finetuning cannot overwrite a stored weight. Returns a `PeftModel`;
    `_finish` merges the adapters back, so the saved model is a plain KnowGPT."""
    from peft import LoraConfig, get_peft_model  # only LoRA runs pay for the import

    # "all-linear" is every nn.Linear but the output layer (get_output_embeddings: lm_head).
    config = LoraConfig(
        r=args.lora_rank, lora_alpha=args.lora_alpha, lora_dropout=0.0, target_modules="all-linear"
    )
    return get_peft_model(model, config)


def build_optimizer(
    model, args: TrainArguments, device: torch.device | str = "cpu"
) -> torch.optim.Optimizer:
    """AdamW (or Muon on the hidden matrices and AdamW on the rest: `optimizers.make_optimizer`)
    with weight decay on Linear weights only (`decay="linear"`), or on every parameter but the
    biases (`decay="course"`: the CS224N trainer's groups, whose `"LayerNorm.weight"` pattern
    matches none of its GPT's LayerNorms, named ln1, ln2 and ln_f). `--freeze`'s weights are left
    out, and a LoRA model (`with_lora`) trains its adapters only. `device`: where it trains (Muon's
    Newton–Schulz dtype)."""
    if args.decay not in ("linear", "course"):
        raise ValueError(f"decay must be 'linear' or 'course', got {args.decay!r}")
    if not args.lora_rank:  # peft has already made only the adapters trainable
        frozen = frozen_names(model, args.freeze)
        for name, param in model.named_parameters():
            param.requires_grad_(name not in frozen)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if args.decay == "course":
        decay = {name for name in params if not name.endswith("bias")}
    else:
        decay = {
            f"{name}.weight" for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)
        }
    groups = [
        {
            "params": {n: p for n, p in params.items() if n in decay},
            "weight_decay": args.weight_decay,
        },
        {"params": {n: p for n, p in params.items() if n not in decay}, "weight_decay": 0.0},
    ]
    return make_optimizer(
        args.optimizer, groups, hidden_matrices(model), args.learning_rate,
        (args.adam_beta1, args.adam_beta2), device,
    )  # fmt: skip


def build_loader(
    dataset, args: TrainArguments, batch_size: int, collate_fn, num_workers: int = 0
) -> DataLoader:
    """The per-process DataLoader: shuffled each epoch, or in file order (`shuffle=False`, the
    course's trainer)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=args.shuffle,
        collate_fn=collate_fn,
        num_workers=num_workers,
        persistent_workers=False,  # workers must see each epoch's transform
        # Its own generator: drawing the iterator's base seed from the global RNG would shift every
        # dropout mask of a resumed run (the iterator is rebuilt after load_state restores that RNG).
        generator=torch.Generator().manual_seed(args.seed),
    )


def _collator(args: TrainArguments, attention_type: str, block_size: int):
    if not args.packing:
        return PaddedCollator()
    # The Perceiver's slots mix a whole row, so it cannot pack; dynamic padding is its pad-saving mode.
    return TrimmedCollator() if attention_type == "perceiver" else PackedCollator(block_size)


class _CountingCollator:
    """Adds the number of examples, which the course's token-based schedule needs, to each batch."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, rows):
        batch = self.inner(rows)
        batch["n_examples"] = torch.tensor(len(rows))
        return batch


def _prepare_output_dir(args: TrainArguments) -> Path | None:
    """Return the checkpoint to resume from (or None); refuse to silently overwrite another run."""
    out = Path(args.output_dir)
    if args.resume_from_checkpoint:
        ckpt = (
            latest_checkpoint(out)
            if args.resume_from_checkpoint == "latest"
            else Path(args.resume_from_checkpoint)
        )
        if ckpt is None or not ckpt.is_dir():
            raise FileNotFoundError(
                f"{args.resume_from_checkpoint}: no checkpoint to resume from in {out}"
            )
        return ckpt
    if (out / "checkpoints").exists() or (out / "model").exists():
        if not args.overwrite_output_dir:
            raise FileExistsError(
                f"{out} already holds a run; pass --resume_from_checkpoint latest to continue it, "
                "--overwrite_output_dir to replace it, or another --output_dir"
            )
    return None


_OLD_RUN_FILES = (
    "checkpoints",
    "model",
    "logs",
    "metrics.jsonl",
    "run_info.json",
    "eval_results.json",
)


def _remove_old_run(out: Path) -> None:
    for name in _OLD_RUN_FILES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _remove_leftovers(out: Path) -> None:
    """What a killed run left half-made in its directory: the temporary and the replaced model
    folders of `atomic_directory` (`.model.*.tmp`, `.model.old`). The run's lock makes them no one's."""
    for path in [*out.glob(".model.*.tmp"), out / ".model.old"]:
        shutil.rmtree(path, ignore_errors=True)


def _file_digest(path: str | None) -> str | None:
    if not path:
        return None
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _signature(
    job: str, config: KnowGPTConfig, corpus_file: str, train_file: str | None, args: TrainArguments
) -> dict:
    """What a checkpoint must share with the run that resumes it: the job, the model and what of it
    trains, the data it reads (`train_file` None: it reads none)."""
    trains = {}  # an older checkpoint has no key for what it did not use
    if args.freeze != "none":
        trains["freeze"] = args.freeze
    if args.lora_rank:
        trains["lora"] = {"rank": args.lora_rank, "alpha": args.lora_alpha}
    if args.optimizer != "adamw":
        trains["optimizer"] = args.optimizer
    model = (
        "attention_type",
        "vocab_size",
        "block_size",
        "n_layer",
        "n_head",
        "n_embd",
        "bottleneck_dim",
    )
    return {
        "job": job,
        "model": {k: getattr(config, k) for k in model},
        **trains,
        "corpus_sha256": _file_digest(corpus_file),
        "train_file_sha256": _file_digest(train_file),
    }


@dataclass
class _Run:
    """Everything the training loop works on (built by `_setup`)."""

    job: str
    args: TrainArguments
    out: Path
    accelerator: Accelerator
    tokenizer: KnowGPTTokenizer
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    loader: DataLoader
    dataset: object
    schedule: LRSchedule
    total_steps: int
    steps_per_epoch: int
    tokens_per_example: int
    signature: dict
    run_info: dict
    eval_set: tuple | None
    state: dict = field(
        default_factory=lambda: {
            "step": 0,
            "epoch": 0,
            "batches_in_epoch": 0,
            "train_seconds": 0.0,
            "useful_tokens": 0,
        }
    )
    last_eval_step: int = -1
    next_eval_minutes: float = math.inf  # the training minute of the next timed evaluation

    def trainer_state(self) -> dict:
        return {
            "state": self.state,
            "schedule": self.schedule.state_dict(),
            "signature": self.signature,
        }

    def checkpoint(self) -> Path:
        return save_checkpoint(
            self.accelerator, self.out, self.trainer_state(), self.args.save_total_limit
        )


def train(
    job: str, model_args: ModelArguments, data_args: DataArguments, args: TrainArguments
) -> Path:
    """Run one pretraining or finetuning job; returns the run directory (with `model/` and `run_info.json`).

    Every input is read and checked before the run directory changes; `--overwrite_output_dir` replaces
    the old run only then. SIGINT/SIGTERM save a resumable checkpoint and stop (KeyboardInterrupt).

    Args:
        job: "pretrain" or "finetune".
        model_args, data_args, args: parsed arguments with the recipe applied (`training.args.parse_args`).
    """
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.output_dir)
    refuse_overwriting_inputs(
        {"--output_dir": out},
        [model_args.pretrained_model, data_args.data_dir, data_args.corpus_file,
         data_args.train_file, data_args.eval_file],
    )  # fmt: skip
    lock = RunLock(out) if os.environ.get("RANK", "0") == "0" else contextlib.nullcontext()
    with lock:  # first: a run in use is the message that matters
        resume_from = _prepare_output_dir(args)
        run = _setup(job, model_args, data_args, args, out, resume_from)
        wall_start, commit = (
            time.perf_counter(),
            git_commit(),
        )  # the code that runs, even if the tree changes
        with _stop_on_signal() as stop_requested:
            _loop(run, stop_requested)
        _finish(run, time.perf_counter() - wall_start, commit)
    return out


def _mixed_precision(choice: str | None) -> str | None:
    """`--mixed_precision`, with "auto" resolved: bf16 where the device multiplies it in hardware."""
    if choice != "auto":
        return choice
    return "bf16" if bf16_is_native(PartialState().device) else "no"


def _setup(job, model_args, data_args, args, out: Path, resume_from: Path | None) -> _Run:
    """Build and check everything (data, model, optimizer, schedule) before touching the run directory."""
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=_mixed_precision(args.mixed_precision),
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    if accelerator.mixed_precision == "fp16" and accelerator.device.type == "cpu":
        # accelerate accepts it and runs fp32 (no autocast, no scaler) while reporting "fp16".
        raise ValueError("--mixed_precision fp16 does nothing on a CPU; use bf16 or no")
    if accelerator.mixed_precision == "bf16" and not bf16_is_native(accelerator.device):
        logger.warning("this device emulates bf16 (a CPU without AVX512-BF16 or AMX): bf16 autocast "
                       "trains slower than fp32, up to 20x (--mixed_precision auto or no)")  # fmt: skip
    if args.lora_rank and (job != "finetune" or not model_args.pretrained_model):
        raise ValueError("--lora_rank adapts a pretrained model: finetune with --pretrained_model")
    if data_args.question_forms > 1 and job == "pretrain" and not data_args.mix_qa:
        raise ValueError(
            "--question_forms phrases the train questions: finetune, or pretrain with --mix_qa"
        )
    set_seed(args.seed)
    resolve_data_files(data_args)
    # The train file, if this run reads it (finetuning, or pretraining with the QA pairs mixed in):
    # it adds to a new model's vocabulary, and it is in the run's signature and run_info.
    reads_qa = job == "finetune" or getattr(data_args, "mix_qa", False)
    train_file = data_args.train_file if reads_qa else None
    tokenizer, model = build_model(job, model_args, data_args.corpus_file, train_file)
    block_size = model.config.block_size
    dataset, tokens_per_example = build_dataset(job, data_args, tokenizer, block_size, args.seed)
    if len(dataset) == 0:
        raise ValueError("the training set is empty")
    mid_run_eval = bool(args.eval_steps or args.eval_minutes)
    eval_set = (
        _eval_set(data_args.eval_file, data_args.corpus_file, tokenizer, block_size)
        if mid_run_eval
        else None
    )
    if (
        job == "finetune" and data_args.eval_file
    ):  # evaluated after training: check it now, not then
        read_qa(data_args.eval_file, tokenizer, block_size)

    world = accelerator.num_processes * args.gradient_accumulation_steps
    if args.batch_size % world:
        raise ValueError(
            f"batch_size {args.batch_size} must be divisible by processes × accumulation = {world}"
        )
    loader = build_loader(
        dataset,
        args,
        batch_size=args.batch_size // world,
        collate_fn=_CountingCollator(_collator(args, model.config.attention_type, block_size)),
        num_workers=data_args.num_workers,
    )
    n_parameters = sum(p.numel() for p in model.parameters())  # the saved model's (LoRA is merged)
    if args.lora_rank:
        model = with_lora(model, args)
    optimizer = build_optimizer(model, args, accelerator.device)
    steps_per_epoch = math.ceil(
        len(loader) / args.gradient_accumulation_steps / accelerator.num_processes
    )
    total_steps = args.max_steps or math.ceil(args.num_epochs * steps_per_epoch)
    # The course's final_tokens (200 × corpus lines × block_size); only its own schedule reads it.
    final_tokens = 0
    if args.lr_schedule == "cs224n":
        final_tokens = 200 * len(read_corpus(data_args.corpus_file)) * block_size
    schedule = LRSchedule(
        optimizer,
        args.lr_schedule,
        args.learning_rate,
        warmup_tokens=args.warmup_tokens,
        final_tokens=final_tokens,
        warmup_steps=args.warmup_steps,
        total_steps=total_steps,
        budget_seconds=60 * args.max_minutes if args.max_minutes else None,
    )
    signature = _signature(job, model.config, data_args.corpus_file, train_file, args)
    saved = (
        read_checkpoint(resume_from, signature, accelerator.num_processes) if resume_from else None
    )

    # Everything is read and checked: only now does the run directory change.
    if accelerator.is_main_process:
        if resume_from is not None:
            truncate_metrics(out / "metrics.jsonl", saved["state"]["step"])
        elif args.overwrite_output_dir:
            _remove_old_run(out)
        else:  # a dead run's records (it left no checkpoint) are not this run's
            (out / "metrics.jsonl").unlink(missing_ok=True)
        _remove_leftovers(out)
    accelerator.wait_for_everyone()
    if args.compile:
        model = torch.compile(model)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    run_info = {
        "job": job,
        "recipe": args.recipe,
        "attention_type": model_args.attention_type,
        "corpus": data_args.corpus_file,
        "train_file": train_file,
        "pretrained_from": model_args.pretrained_model,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "lr_schedule": args.lr_schedule,
        "packing": args.packing,
        "num_processes": accelerator.num_processes,
        "mixed_precision": accelerator.mixed_precision,
        "muon_newton_schulz": (
            str(newton_schulz_dtype(accelerator.device)).removeprefix("torch.")
            if args.optimizer == "muon"
            else None
        ),
        "parameters": n_parameters,
        "trainable_parameters": sum(
            p.numel() for group in optimizer.param_groups for p in group["params"]
        ),
        "args": {"model": asdict(model_args), "data": asdict(data_args), "train": asdict(args)},
    }
    run = _Run(job, args, out, accelerator, tokenizer, model, optimizer, loader, dataset, schedule,
               total_steps, steps_per_epoch, tokens_per_example, signature, run_info, eval_set,
               next_eval_minutes=args.eval_minutes or math.inf)  # fmt: skip
    if saved is not None:
        accelerator.load_state(str(resume_from))
        run.state.update(saved["state"])
        schedule.load_state_dict(saved["schedule"])
        logger.info("resumed from %s at step %d", resume_from, run.state["step"])
    if accelerator.is_main_process:
        accelerator.init_trackers("knowgpt", config=_scalars(run_info))
    return run


@contextlib.contextmanager
def _stop_on_signal():
    """A flag that SIGINT/SIGTERM set (a second signal acts as usual); the loop checks it each step."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(sig, frame):
        requested.set()
        signal.signal(sig, previous[sig])

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _loop(run: _Run, stop_requested: threading.Event) -> None:
    """Epochs of micro-batches; after each optimizer step, `_after_step` keeps the books and decides
    whether to stop (step count, time budget, a signal)."""
    acc, state = run.accelerator, run.state
    bar = tqdm(
        total=run.total_steps,
        initial=state["step"],
        desc=run.args.progress_label or f"{run.job} ({run.run_info['attention_type']})",
        disable=not acc.is_local_main_process,
        dynamic_ncols=True,
    )
    try:
        _epochs(run, bar, stop_requested)
    finally:
        bar.close()  # before any error message


def _epochs(run: _Run, bar, stop_requested: threading.Event) -> None:
    acc, model, state = run.accelerator, run.model, run.state
    step = _StepTotals()
    window = {"loss": 0.0, "n": 0, "useful": 0, "seconds": 0.0}
    stop = False
    while not stop and state["step"] < run.total_steps:
        if run.job == "pretrain":
            set_epoch(run.dataset, state["epoch"])  # fresh span corruption every epoch
        run.loader.set_epoch(state["epoch"])
        skip = state["batches_in_epoch"]
        batches = acc.skip_first_batches(run.loader, skip) if skip else run.loader
        step.t0 = time.perf_counter()
        for batch in batches:
            n_examples = batch.pop("n_examples")
            model.train()
            with acc.accumulate(model):
                loss = model(**batch).loss
                acc.backward(loss)
                if acc.sync_gradients and run.args.max_grad_norm:
                    acc.clip_grad_norm_(model.parameters(), run.args.max_grad_norm)
                run.schedule.apply()
                run.optimizer.step()
                run.optimizer.zero_grad(set_to_none=True)
            state["batches_in_epoch"] += 1
            step.examples += int(n_examples)
            step.useful += count_targets(batch["labels"])
            loss_value = loss.item()
            step.finite = step.finite and math.isfinite(loss_value)
            window["loss"] += loss_value
            window["n"] += 1
            if acc.sync_gradients:
                stop = _after_step(run, bar, step, window, stop_requested.is_set())
                if stop:
                    break
        else:
            state["epoch"] += 1
            state["batches_in_epoch"] = 0


@dataclass
class _StepTotals:
    """What the micro-batches of one optimizer step add up, and when the step started."""

    examples: int = 0
    useful: int = 0
    finite: bool = True
    t0: float = 0.0


def _after_step(run: _Run, bar, step: _StepTotals, window: dict, signalled: bool) -> bool:
    """Count one optimizer step, log, checkpoint and evaluate as asked; True when the run should stop."""
    acc, args, state = run.accelerator, run.args, run.state
    # One collective per optimizer step: examples for the course's token count, rank 0's clock (the
    # time budget and a time-based LR must be one decision on every rank), a non-finite loss, a signal.
    step_seconds = time.perf_counter() - step.t0 if acc.is_main_process else 0.0
    flags = [float(step.examples), step_seconds, float(not step.finite), float(signalled)]
    totals = acc.reduce(torch.tensor(flags, dtype=torch.float64, device=acc.device), "sum")
    if totals[2]:
        last = latest_checkpoint(run.out)
        raise ValueError(
            f"non-finite loss at step {state['step'] + 1} (learning rate {run.schedule.base_lr:g} too "
            f"high?); stopped without saving, the last good checkpoint is {last or 'none'}"
        )
    step_seconds = float(totals[1])
    run.schedule.advance(int(totals[0]) * run.tokens_per_example, step_seconds)
    state["step"] += 1
    state["useful_tokens"] += step.useful
    window["useful"] += step.useful
    state["train_seconds"] += step_seconds
    window["seconds"] += step_seconds
    step.examples = step.useful = 0
    bar.update(1)
    if args.max_minutes and state["step"] % 20 == 0:  # a time budget: re-estimate the bar's total
        bar.total = min(
            run.total_steps, int(state["step"] * 60 * args.max_minutes / state["train_seconds"]) + 1
        )
    if state["step"] % args.logging_steps == 0 or state["step"] == run.total_steps:
        epoch = state["epoch"] + state["batches_in_epoch"] / len(run.loader)
        _log(acc, bar, state, run.schedule, window, epoch)
    if args.save_steps and state["step"] % args.save_steps == 0:
        run.checkpoint()
    if run.eval_set and (
        (args.eval_steps and state["step"] % args.eval_steps == 0)
        or state["train_seconds"] / 60 >= run.next_eval_minutes
    ):
        _evaluate_during_training(acc, run.model, run.tokenizer, run.eval_set, state, run.out)
        run.last_eval_step = state["step"]
        run.next_eval_minutes += args.eval_minutes or math.inf
    if totals[3]:
        ckpt = run.checkpoint()
        logger.warning(
            "stopped by a signal; saved %s (resume: --resume_from_checkpoint latest)", ckpt
        )
        raise KeyboardInterrupt
    step.t0 = time.perf_counter()
    over_budget = bool(args.max_minutes) and state["train_seconds"] >= 60 * args.max_minutes
    return over_budget or state["step"] >= run.total_steps


def _finish(run: _Run, wall_seconds: float, commit: str) -> None:
    """The final checkpoint, evaluation and `model/` folder, and run_info.json."""
    acc, state = run.accelerator, run.state
    run.checkpoint()
    if run.eval_set and state["step"] != run.last_eval_step:
        _evaluate_during_training(acc, run.model, run.tokenizer, run.eval_set, state, run.out)
    acc.wait_for_everyone()
    if acc.is_main_process:
        final = acc.unwrap_model(run.model)
        if run.args.lora_rank:  # the adapters merged into the weights: a plain KnowGPT folder
            final = final.merge_and_unload()
        with atomic_directory(run.out / "model") as tmp:
            final.save_pretrained(tmp, safe_serialization=True)
            run.tokenizer.model_max_length = final.config.block_size
            run.tokenizer.save_pretrained(tmp)
        run.run_info.update(
            steps=state["step"],
            epochs=round(state["step"] / run.steps_per_epoch, 3),
            tokens=run.schedule.tokens,
            useful_tokens=state["useful_tokens"] * acc.num_processes,
            train_minutes=round(state["train_seconds"] / 60, 2),
            provenance=provenance(wall_seconds, commit=commit),
        )
        atomic_write_json(run.out / "run_info.json", run.run_info)
    acc.wait_for_everyone()
    acc.end_training()


def _log(accelerator, bar, state, schedule, window, epoch: float) -> None:
    loss = accelerator.reduce(
        torch.tensor(window["loss"] / max(1, window["n"]), device=accelerator.device), "mean"
    )
    useful = accelerator.reduce(
        torch.tensor(float(window["useful"]), device=accelerator.device), "sum"
    )
    record = {
        "step": state["step"],
        "epoch": round(epoch, 4),
        "loss": round(loss.item(), 5),
        "lr": schedule.base_lr * schedule.multiplier(),
        "tokens_per_s": round(useful.item() / max(window["seconds"], 1e-9), 1),
        "train_minutes": round(state["train_seconds"] / 60, 3),
    }
    window.update(loss=0.0, n=0, useful=0, seconds=0.0)
    bar.set_postfix(
        loss=f"{record['loss']:.4f}",
        lr=f"{record['lr']:.2e}",
        tok_s=f"{record['tokens_per_s']:.0f}",
    )
    accelerator.log({f"train/{k}": v for k, v in record.items() if k != "step"}, step=state["step"])
    if accelerator.is_main_process:
        with open(Path(accelerator.project_dir) / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def _eval_set(eval_file: str | None, corpus_file: str | None, tokenizer, block_size: int):
    """Questions, answers and the storage probe's cases, by continuation and by filling in the
    blank (none without a corpus)."""
    if not eval_file:
        raise ValueError("mid-run evaluation needs --eval_file (or a data_dir with birth_dev.tsv)")
    pairs = read_qa(eval_file, tokenizer, block_size, require_answers=True)
    docs = read_corpus(corpus_file) if corpus_file else []
    cases = {
        key: storage_cases(docs, pairs, block_size, cloze=cloze) if docs else []
        for key, cloze in (("dev_storage", False), ("dev_cloze_storage", True))
    }
    return [q for q, _ in pairs], [a for _, a in pairs], cases


def _evaluate_during_training(accelerator, model, tokenizer, eval_set, state, out: Path) -> None:
    """Dev accuracy and dev storage (`probe.py`) on the main process, outside the training budget."""

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        questions, answers, cases = eval_set
        unwrapped = accelerator.unwrap_model(model)
        t0 = time.perf_counter()
        preds = predict(unwrapped, tokenizer, questions)
        result = score([p.answer for p in preds], answers)
        record = {
            "step": state["step"],
            "train_minutes": round(state["train_seconds"] / 60, 3),
            "dev_accuracy": result["accuracy"],
        }
        for key, key_cases in cases.items():
            if key_cases:
                probe = storage_accuracy(unwrapped, tokenizer, key_cases)
                record.update({key: probe["storage"], f"{key}_probed": probe["probed"]})
        record["eval_seconds"] = round(time.perf_counter() - t0, 2)
        keys = ("dev_accuracy", "dev_storage", "dev_cloze_storage")
        accelerator.log({f"eval/{k}": record[k] for k in keys if k in record}, step=state["step"])
        with open(out / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        logger.info(
            "step %d: dev accuracy %.2f%%, storage %s",
            state["step"],
            100 * result["accuracy"],
            f"{100 * record['dev_storage']:.2f}%" if "dev_storage" in record else "n/a",
        )
    accelerator.wait_for_everyone()


def _scalars(d: dict) -> dict:
    """TensorBoard hparams accept only scalars: flatten one level and drop the rest."""
    flat = {}
    for k, v in d.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                if isinstance(vv, dict):
                    flat.update(
                        {
                            f"{kk}.{x}": y
                            for x, y in vv.items()
                            if isinstance(y, int | float | str | bool)
                        }
                    )
        elif isinstance(v, int | float | str | bool):
            flat[k] = v
    return flat
