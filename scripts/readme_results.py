"""Regenerate the results tables from results/*.json, so every number shown has a committed source.

RESULTS.md holds every table (between the results markers), README.md one summary table (between the
summary markers).

python scripts/readme_results.py          # rewrite both blocks
python scripts/readme_results.py --check  # exit 1 if either file is out of date (tests/test_readme.py)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hf_knowgpt.evaluation.stats import interval, percent, share

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
RESULTS_MARKERS = "<!-- results:begin (scripts/readme_results.py) -->", "<!-- results:end -->"
SUMMARY_MARKERS = "<!-- summary:begin (scripts/readme_results.py) -->", "<!-- summary:end -->"

# The course's published dev accuracies (the course handout, as ../shared/SPEC.md quotes it).
COURSE = {
    "london": "5.0 %",
    "scratch": "0.6-1.4 %",
    "vanilla": "20.2-23.0 % (24 % reported)",
    "synthesizer": "6.2 %",
}


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _source(prov: dict, file: str) -> str:
    return f"`{file}`: {prov['date']}, commit {prov['git_commit']}, {prov['machine']}"


def _table(title: str, header: str, rows: list[str], prov: dict, file: str) -> list[str]:
    """A bold title, a markdown table (header cells separated by |) and its source line."""
    return [
        title,
        "",
        f"| {header} |",
        "|" + "---|" * (header.count("|") + 1),
        *rows,
        "",
        f"Source: {_source(prov, file)}.",
        "",
    ]


def demo_section() -> list[str]:
    d = _load("demo.json")
    if d is None:
        return []

    def storage(r: dict, key: str) -> str:
        s = r.get(key)
        return f"{percent(s['storage'])} ({s['stored']}/{s['probed']})" if s else "-"

    rows = [
        f"| {name} | {share(r)} | "
        f"{percent(r['ci95'][0])}-{percent(r['ci95'][1])} | {storage(r, 'storage')} | {storage(r, 'cloze_storage')} |"
        for name, r in d["rows"].items()
    ]
    lines = _table(
        f"**The demo** (`knowgpt demo`, synthetic corpus: {d['n_people']} people × {d.get('variants', 1)} "
        f"biographies, {d['pretrain_minutes']} min pretraining, wall time {d['provenance']['wall_seconds']:.0f} s)",
        "model | synthetic dev accuracy | 95 % interval (Wilson) | dev storage: continues the biography "
        "with the place | dev storage: fills the place's blank in",
        rows,
        d["provenance"],
        "results/demo.json",
    )
    p = d["p_value_pretraining_helps"]
    return lines[:-1] + [
        f"Pretrained + finetuned against finetuned without pretraining: one-sided Fisher exact p = {p:.3g}.",
        "",
    ]


def course_section(name: str = "cs224n.json", title: str | None = None) -> list[str]:
    d = _load(name)
    if d is None:
        return []
    rows = [f"| {r['row']} | {share(r)} | {r['published']} | {r['budget']} |" for r in d["rows"]]
    rows += [f"| {row} | not run | | |" for row in d.get("rows_still_to_run", [])]
    return _table(
        title
        or "**The course's table on the real dev set** (budget-limited on 2 CPU cores, see each row)",
        "run | measured dev accuracy | course (published) | training budget",
        rows,
        d["provenance"],
        f"results/{name}",
    )


def throughput_section(name: str = "throughput.json", title: str | None = None) -> list[str]:
    d = _load(name)
    if d is None:
        return []
    rows = [
        f"| {v} | {r['course']['tokens_per_s']:.0f} | {r['fast']['tokens_per_s']:.0f} | {r['speedup']:.2f}× "
        f"| {_bf16_cell(r)} "
        f"| {r['fast_no_attn_dropout']['tokens_per_s']:.0f} ({r['speedup_no_attn_dropout']:.2f}×) "
        f"| {_bound_cell(r)} |"
        for v, r in d["results"].items()
    ]
    return _table(
        title
        or "**Training throughput** (useful = non-PAD target tokens/s; `scripts/bench_throughput.py`)",
        "variant | course-style step | fast path, same mathematics | speedup | fast path, bf16 autocast "
        "| attention dropout off | bound: fast path's fp32 matrix products alone",
        rows,
        d["provenance"],
        f"results/{name}",
    )


def _bf16_cell(r: dict) -> str:
    """The bf16 autocast measurement (results before it was measured have none)."""
    if "fast_bf16" not in r:
        return "not measured"
    return f"{r['fast_bf16']['tokens_per_s']:.0f} ({r['speedup_bf16']:.2f}×)"


def _bound_cell(r: dict) -> str:
    """The most the fast path could reach on that CPU: its matrix products alone (older results and
    GPU runs have none)."""
    b = r.get("matrix_products")
    if b is None:
        return "not measured"
    return f"{b['tokens_per_s']:.0f} ({r['speedup_bound']:.2f}×, {b['gflops_per_s']:.0f} GFLOP/s)"


def time_to_accuracy_section() -> list[str]:
    runs = sorted((RESULTS / "time_to_accuracy").glob("*.json"))
    if not runs:
        return []
    lines = ["**Time to knowledge** (`scripts/time_to_accuracy.py`, real dev set, 2 CPU cores)", ""]
    lines += [
        "| recipe | variant | budget | dev accuracy at each evaluation (training minutes) "
        "| dev storage at the same points |",
        "|---|---|---|---|---|",
    ]
    for path in runs:
        d = json.loads(path.read_text(encoding="utf-8"))
        curve = ", ".join(
            f"{percent(p['dev_accuracy'])} ({p['train_minutes']:.0f})" for p in d["points"]
        )
        storage = ", ".join(percent(p["dev_storage"]) for p in d["points"] if "dev_storage" in p)
        cloze = ", ".join(
            percent(p["dev_cloze_storage"]) for p in d["points"] if "dev_cloze_storage" in p
        )
        command = d["provenance"]["command"]
        extra = f" (`{command.split(' -- ', 1)[1]}`)" if " -- " in command else ""
        budget = (
            f"{d['budget_minutes']:g} min"
            if d.get("budget_minutes")
            else f"checkpoints of one run (`{Path(d['from_run']).name}`)"
        )
        lines.append(
            f"| {d['recipe']}{extra} | {d['attention_type']} | {budget} | {curve} "
            f"| {storage or 'not probed'}{'; fills in the blank: ' + cloze if cloze else ''} |"
        )
    lines += [
        "",
        "Dev storage (`hf_knowgpt/evaluation/probe.py`): the share of dev people whose biography, cut before the "
        "birth place, the model completes with it. Plots: `results/time_to_accuracy/*.png`.",
        "",
    ]
    return lines


def _corpus(qa_file: str) -> str:
    """The corpus of a QA file: "real" for the course's files (a cs224n folder), else "synthetic"."""
    return "real" if "cs224n" in Path(qa_file).parts else "synthetic"


def storage_section() -> list[str]:
    runs = sorted((RESULTS / "storage").glob("*.json"))
    if not runs:
        return []
    lines = [
        "**Stored or not** (`knowgpt probe`): people whose biography, cut before the "
        "birth place, the model completes with it; with a prompt, people whose name in those "
        "words it completes with the place; with `--cloze`, people whose biography, the place "
        "blanked out as span corruption does (`before⁇after⁇`), it fills in with the place",
        "",
        "| model | people of | probed with | stored | source |",
        "|---|---|---|---|---|",
    ]
    for path in runs:
        d = json.loads(path.read_text(encoding="utf-8"))
        probe = f"`{d['prompt']}`" if "prompt" in d else "biography"
        probe += ", place blanked (`--cloze`)" if d.get("cloze") else ""
        lines.append(
            f"| `{d['model_dir']}` | {_corpus(d['qa_file'])} {Path(d['qa_file']).name} | {probe} | {percent(d['storage'])} "
            f"({d['stored']}/{d['probed']}) | `{path.relative_to(ROOT)}`, {d['provenance']['date']} |"
        )
    return [*lines, ""]


def confidence_section() -> list[str]:
    lines = []
    for path in sorted(RESULTS.glob("confidence_*/report.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        dev = d["dev"]
        cov = {round(c["coverage"], 2): c for c in dev["coverage"]}
        cells = " | ".join(
            percent(cov[k]["accuracy"]) if k in cov else "n/a" for k in (1.0, 0.5, 0.2)
        )
        auroc = dev.get("auroc_correct_vs_wrong")
        lines += [
            f"**Knowing what it knows** (`{path.parent.relative_to(ROOT)}`): accuracy of the most confident answers",
            "",
            "| coverage 100 % | 50 % | 20 % | ECE | AUROC (correct vs wrong) | correct answers it rests on |",
            "|---|---|---|---|---|---|",
            f"| {cells} | {dev['ece']:.3f} | {'n/a' if auroc is None else f'{auroc:.3f}'} "
            f"| {dev['groups']['dev_correct']['n']} of {dev['n']} |",
            "",
            f"![accuracy vs coverage]({(path.parent / 'accuracy_coverage.png').relative_to(ROOT)})",
            "",
        ]
    return lines


def gpu_vanilla_section() -> list[str]:
    """The vanilla row of each uncut GPU run of the course recipe (seeds, salient spans)."""
    runs = {
        "cs224n_gpu.json": "seed 0 (the table above)",
        "cs224n_gpu_seed1.json": "seed 1",
        "cs224n_gpu_salient.json": "seed 0, `--salient_spans 1.0`",
    }
    rows = []
    for name, what in runs.items():
        d = _load(name)
        if d is None:
            continue
        got = {r["row"]: r for r in d["rows"]}
        pre, scratch = got["vanilla, pretrained + finetuned"], got["vanilla, no pretraining"]
        rows.append(
            f"| {what} | {share(pre)} "
            f"| {share(scratch)} "
            f"| `results/{name}`, {d['provenance']['date']}, commit {d['provenance']['git_commit'][:12]} |"
        )
    if not rows:
        return []
    return [
        "**Vanilla, the uncut course recipe, every run** (one H100; the five pretrainings of "
        "`scripts/gpu_course_runs.sh` shared it)",
        "",
        "| run | pretrained + finetuned | no pretraining | source |",
        "|---|---|---|---|",
        *rows,
        "",
    ]


def _after(r: dict) -> str:
    """Both storage probes of the finetuned model (sweeps before they were measured have none)."""
    if "storage_after" not in r:
        return "not probed"
    return (
        f"{percent(r['storage_after']['storage'])} / {percent(r['cloze_storage_after']['storage'])}"
    )


def extraction_section() -> list[str]:
    """Finetuning settings against one pretrained model (`scripts/extraction_sweep.py`); the sweeps
    of the same model make one table."""
    sweeps: dict[str, list[tuple[Path, dict]]] = {}
    for path in sorted((RESULTS / "extraction").glob("*.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        sweeps.setdefault(d["pretrained_model"], []).append((path, d))
    lines = []
    for model, runs in sweeps.items():
        first = runs[0][1]
        rows = [
            f"| {r['setting']} | `{r['flags']}` | {r['epochs']:g} | {percent(r['all']['accuracy'])} "
            f"({r['all']['correct']}/{r['all']['total']}) | {interval(r['all'])} "
            f"| {share(r['stored'])} "
            f"| {_after(r)} | `{path.relative_to(ROOT)}` |"
            for path, d in runs
            for r in d["rows"]
        ]
        table = _table(
            f"**Extraction** (`scripts/extraction_sweep.py`: `{model}`, which stores "
            f"{first['dev_stored']} of {first['dev_probed']} probed dev people, finetuned on the "
            f"2-core CPU under each setting, recipe `{first['recipe']}`)",
            "setting | flags | epochs | dev accuracy | 95 % interval | on the stored people "
            "| stored after finetuning (continues / fills in) | file",
            rows,
            first["provenance"],
            str(runs[0][0].relative_to(ROOT)),
        )
        sources = [
            f"Source: {_source(d['provenance'], str(path.relative_to(ROOT)))}." for path, d in runs
        ]
        lines += table[:-2] + ["  \n".join(sources), ""]  # one line each
    return lines


def results_block() -> str:
    """Every table, for RESULTS.md."""
    parts = demo_section()
    parts += course_section(
        "cs224n_gpu.json",
        "**The course's table, its recipe uncut (650 epochs), on one GPU** (a lent H100; "
        "`scripts/gpu_course_runs.sh`, run records and loss curves in `results/cs224n_gpu_runs/`; "
        "training minutes measured while five pretrainings shared the GPU: alone, a vanilla "
        "pretraining took 6.5 min)",
    )
    parts += gpu_vanilla_section() + extraction_section()
    parts += course_section()
    parts += time_to_accuracy_section() + storage_section()
    parts += throughput_section()
    parts += throughput_section(
        "throughput_gpu.json",
        "**Training throughput on one H100 GPU** (useful tokens/s, 20 timed steps; "
        "`scripts/bench_throughput.py --steps 20`; the first GPU session's machine and tree)",
    )
    parts += confidence_section()
    return "\n".join([RESULTS_MARKERS[0], "", *parts, RESULTS_MARKERS[1]])


def _count(r: dict) -> str:
    return f"{share(r)}"


def _gpu_rows() -> dict[str, list[dict]]:
    """Each row of the uncut GPU table, with the same row of the seed-1 run where there is one."""
    rows: dict[str, list[dict]] = {}
    for name in ("cs224n_gpu.json", "cs224n_gpu_seed1.json"):
        for r in (_load(name) or {"rows": []})["rows"]:
            rows.setdefault(r["row"], []).append(r)
    return rows


def _best_extraction() -> list[str]:
    """The best finetuning setting of each GPU-pretrained model's sweeps (`results/extraction/gpu_*`,
    the models of the summary's row above it)."""
    best: dict[str, dict] = {}
    for path in sorted((RESULTS / "extraction").glob("gpu_*.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        for r in d["rows"]:
            top = best.get(d["pretrained_model"])
            if top is None or r["all"]["accuracy"] > top["all"]["accuracy"]:
                best[d["pretrained_model"]] = r
    return [f"{_count(r['all'])}, `{r['flags']}`" for r in best.values()]


def _best_cpu() -> tuple[float, str, str]:
    """The best final dev accuracy of a model pretrained and finetuned on the CPU (no GPU)."""
    found = []
    for path in sorted((RESULTS / "time_to_accuracy").glob("*.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        if d.get("from_run"):  # checkpoints of a run released below: its release is the result
            continue
        if "no GPU" in d["provenance"]["machine"]:
            command = d["provenance"]["command"]
            extra = f" with `{command.split(' -- ', 1)[1]}`" if " -- " in command else ""
            what = f"{d['attention_type']}, `{d['recipe']}`{extra}, {d['budget_minutes']:g} min"
            found.append((d["final_dev_accuracy"], what, str(path.relative_to(ROOT))))
    for path in sorted(
        (RESULTS / "releases").glob("*.json")
    ):  # released models (scripts/release.py)
        d = json.loads(path.read_text(encoding="utf-8"))
        if "dev" in d and "CPU" in d["hardware"]:
            what = f"released `models/{d['folders'][-1]}`, {d['training_minutes']:g} min, {d['hardware']}"
            found.append((d["dev"]["accuracy"], what, str(path.relative_to(ROOT))))
    course = _load("cs224n.json")
    if course is not None and "no GPU" in course["provenance"]["machine"]:
        found += [
            (r["accuracy"], f"{r['row']}, `{course['recipe']}`", "results/cs224n.json")
            for r in course["rows"]
            if "pretrained" in r["row"]
        ]
    return max(found)


def summary_block() -> str:
    """One table for README.md: the course's published numbers against ours."""
    rows = _gpu_rows()

    def ours(row: str, runs: int = 2) -> str:
        return " / ".join(_count(r) for r in rows.get(row, [])[:runs]) or "not run"

    best_acc, best_what, best_file = _best_cpu()
    lines = [
        "| dev accuracy (500 questions) | course (published) | ours | source |",
        "|---|---|---|---|",
        f"| London baseline | {COURSE['london']} | {ours('London baseline', runs=1)} | `results/cs224n_gpu.json` |",
        f"| vanilla, no pretraining | {COURSE['scratch']} | {ours('vanilla, no pretraining')} "
        "| `results/cs224n_gpu.json`, `results/cs224n_gpu_seed1.json` |",
        f"| vanilla, pretrained + finetuned | {COURSE['vanilla']} "
        f"| {ours('vanilla, pretrained + finetuned')} "
        "| `results/cs224n_gpu.json`, `results/cs224n_gpu_seed1.json` |",
        f"| synthesizer, pretrained + finetuned | {COURSE['synthesizer']} "
        f"| {ours('synthesizer, pretrained + finetuned')} | `results/cs224n_gpu.json` |",
        f"| perceiver, pretrained + finetuned | (not published) "
        f"| {ours('perceiver, pretrained + finetuned')} | `results/cs224n_gpu.json` |",
        "| vanilla pretrained as above, the best finetuning setting | - "
        f"| {' / '.join(_best_extraction())} | `results/extraction/` |",
        f"| the best on 2 CPU cores ({best_what}) | - | {percent(best_acc)} | `{best_file}` |",
        *_cpu_variant_rows(),
    ]
    return "\n".join([SUMMARY_MARKERS[0], "", *lines, "", SUMMARY_MARKERS[1]])


CPU_VARIANT_RUNS = (  # (result, the bar beside it)
    ("mixed_training/cpu2h_mixed_synthesizer_muon_110min.json", "6.2 % (course recipe)"),
    ("mixed_training/cpu2h_mixed_perceiver64_muon_110min.json", "≥ 6 % (2023 handout's bar)"),
)


def _cpu_variant_rows() -> list[str]:
    """The best CPU synthesizer and Perceiver: pretrained alone and + finetuned, against their bars."""
    rows = []
    for name, bar in CPU_VARIANT_RUNS:
        d = _load(name)
        if d is None:
            continue
        pre, ft = d["pretrained"], d["finetuned"]
        model = pre["run"]["model"]
        variant = model["attention_type"]
        if variant == "perceiver":
            variant += f" (m = {model['bottleneck_dim']})"
        minutes = pre["run"]["train_minutes"] + ft["run"]["train_minutes"]
        rows.append(
            f"| {variant}, `cpu2h_mixed` with Muon, {minutes:.0f} min on one CPU core: pretrained / "
            f"+ finetuned | {bar} | {_count(pre['dev'])} / {_count(ft['dev'])} | `results/{name}` |"
        )
    return rows


def _splice(text: str, markers: tuple[str, str], block: str) -> str:
    """Text with the block between the markers (the markers included) replaced by block."""
    head, rest = text.split(markers[0], 1)
    _, tail = rest.split(markers[1], 1)
    return head + block + tail


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true")
    a = p.parse_args()
    stale = []
    for name, markers, block in (
        ("RESULTS.md", RESULTS_MARKERS, results_block()),
        ("README.md", SUMMARY_MARKERS, summary_block()),
    ):
        path = ROOT / name
        text = path.read_text(encoding="utf-8")
        updated = _splice(text, markers, block)
        if updated == text:
            continue
        stale.append(name)
        if not a.check:
            path.write_text(updated, encoding="utf-8")
    if a.check and stale:
        print(
            f"{', '.join(stale)} out of date: run python scripts/readme_results.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
