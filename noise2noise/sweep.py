"""Studies: tables of config grids, each setting trained over seeds under one time budget.

A study file (TOML)::

    seeds = [0, 1, 2]                  # the default
    time_budget = "10m"                # per run; `n2n sweep --budget 30s` overrides it
    [base]                             # TrainConfig fields shared by every run
    data = "../shared/datasets/cbsd432"
    [tables.optimizer]                 # one table: the grid of its axes
    title = "Table I: optimiser and learning rate"
    axes = { optimizer = ["sgd", "adam"], lr = [0.01, 0.001] }
    set = { schedule = "constant" }    # optional: fields fixed for this table only
    baselines = ["bm3d"]               # optional: classical methods on the same validation crops
    [[claims]]                         # optional: see noise2noise/claims.py
    [[figures]]                        # optional: chosen curves of one table in their own PNG
    table = "optimizer"
    title = "Fig. 3: training loss"
    file = "fig3.png"
    settings = [{ optimizer = "sgd", lr = 0.01 }, { optimizer = "adam", lr = 0.001 }]

The last axis gives a table's columns, the others its rows. Study folder: runs.jsonl
(one line per finished run, appended at once), runs.csv, tables.md, curves.png, best.pt
with samples.png for the best run, and baselines.jsonl (each table's baselines). A run is
known by its resolved config, so a re-run skips finished runs and a setting shared by
several tables is trained once.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import itertools
import json
import math
import os
import statistics
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from noise2noise.claims import Claim, check_setting, format_claims, load_claims, setting_label
from noise2noise.config import TrainConfig, parse_budget, read_text_file
from noise2noise.errors import N2NError
from noise2noise.tensorboard import TENSORBOARD_DIR, TensorBoardMirror, require_tensorboard

DEFAULT_SEEDS = (0, 1, 2)
MAX_RUNS = 10_000  # per table: more is a typo in an axis, not a study (2,000 runs load in under a second)
_STUDY_KEYS = {"title", "seeds", "time_budget", "base", "tables", "claims", "figures"}
_TABLE_KEYS = {"title", "axes", "set", "baselines"}
# fields that change a table's validation crops: a table with baselines may not vary them
_VALIDATION_FIELDS = ("data", "val_data", "noise", "noise_level", "clip", "crop_px", "val_fraction", "val_patches")
_FIGURE_KEYS = {"table", "title", "file", "settings"}
_REPORT_FILES = {"tables.md", "runs.csv", "runs.jsonl", "curves.png", "samples.png", "study.json", "best.pt",
                 "baselines.jsonl"}
# fields that never change the training data: runs differing only in these share one load
_TRAINING_ONLY = {"arch", "width", "depth", "init", "loss", "optimizer", "lr", "weight_decay", "schedule",
                  "warmup", "ema", "batch_size", "augment", "time_budget", "epochs", "seed", "log_every",
                  "eval_every_s", "checkpoint_every_s", "device"}
_METRICS = ("psnr_db", "psnr_noisy_db", "ssim", "ssim_noisy")


@dataclass
class Cell:
    """One setting of a table (axis -> value) and its runs, one config per seed."""

    setting: dict[str, Any]
    configs: list[TrainConfig]

    @property
    def label(self) -> str:
        return ", ".join(f"{axis}={_fmt(value)}" for axis, value in self.setting.items())


@dataclass
class Table:
    name: str
    title: str
    axes: dict[str, list[Any]]
    cells: list[Cell]
    baselines: list[str] = field(default_factory=list)  # evaluate's methods, on the table's validation crops


@dataclass(frozen=True)
class Figure:
    """Training-loss curves (raw and smoothed) of chosen settings of one table, in ``file``."""

    table: str
    title: str
    file: str
    settings: list[dict[str, Any]]


@dataclass
class Study:
    path: Path
    title: str
    seeds: list[int]
    time_budget: str | None  # per run: a duration or an amount of work
    tables: list[Table]
    claims: list[Claim] = field(default_factory=list)  # the replicated report's claims, judged over seeds
    figures: list[Figure] = field(default_factory=list)  # the replicated report's loss figures

    def runs(self) -> dict[str, tuple[TrainConfig, str]]:
        """Every distinct run in study order: key -> (config, label of its first cell)."""
        out: dict[str, tuple[TrainConfig, str]] = {}
        for table in self.tables:
            for cell in table.cells:
                for cfg in cell.configs:
                    out.setdefault(run_key(cfg), (cfg, f"{cell.label}, seed={cfg.seed}"))
        return out


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# fields a study run does not use: the whole-image validation belongs to `n2n train` runs
_NOT_IN_RUN_KEY = ("val_whole_images",)
# fields added after studies had run, left out of run and baseline keys at the default that gives
# the old behaviour (runs.jsonl rows are also keyed again from the config they record)
_KEY_ONLY_WHEN_SET = {"noise_level_power": 1.0, "train_scales": 1, "clip_targets": True, "channels": "auto",
                      "sigma_input": False, "sigma_jitter": 0.0, "growth": "zero", "init_weights": None}


def run_key(cfg: TrainConfig) -> str:
    """A run's identity: a hash of its resolved config (seed and budget included; the
    device left out, so a study resumed on another device skips the runs it finished, and
    the fields a study run does not use, so keys stay valid when such a field is added)."""
    values = cfg.to_dict() | {"device": "auto"}  # "auto": keys of runs from before this rule stay valid
    for name in _NOT_IN_RUN_KEY:
        values.pop(name)
    for name, default in _KEY_ONLY_WHEN_SET.items():
        if values[name] == default:
            values.pop(name)
    return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def load_study(path: str | Path, budget: str | float | None = None, device: str | None = None) -> Study:
    """Read and validate a study file; every run's config is built (and checked) here.
    ``budget`` overrides the file's per-run ``time_budget``, ``device`` its ``device``."""
    path = Path(path)
    try:
        spec = tomllib.loads(read_text_file(path, "study file"))
    except tomllib.TOMLDecodeError as exc:
        raise N2NError(f"{path}: not a valid TOML study file ({exc})") from None
    _check_keys(spec, _STUDY_KEYS, f"{path}")
    seeds = spec.get("seeds", list(DEFAULT_SEEDS))
    if not isinstance(seeds, list) or not seeds or not all(type(s) is int for s in seeds) \
            or len(set(seeds)) != len(seeds):
        raise N2NError(f"{path}: seeds = {seeds!r} must be a list of distinct integers, e.g. [0, 1, 2]")
    base = spec.get("base", {})
    if isinstance(base, dict) and "seed" in base:  # the seeds list would replace it without a word
        raise N2NError(f"{path} [base]: seed is set for the whole study (seeds = [...]), not in [base]")
    if isinstance(base, dict) and "time_budget" in base and "time_budget" in spec:
        raise N2NError(f"{path}: time_budget is given at the top and in [base]; give it once, at the top")
    name = "--budget" if budget is not None else f"{path}: time_budget"  # who gave it, for the error line
    budget = budget if budget is not None else spec.get("time_budget", base.get("time_budget")
                                                         if isinstance(base, dict) else None)
    if budget is not None:
        parsed = parse_budget(budget, name)
        if parsed.amount <= 0:
            raise N2NError(f"{name}={budget!r} must be > 0, e.g. 10m or 3000 steps")
        budget = str(parsed)
    if not isinstance(base, dict) or not isinstance(spec.get("tables"), dict) or not spec["tables"]:
        raise N2NError(f"{path}: a study needs a [base] table of config fields and at least one "
                       "[tables.NAME] with axes = {field = [values, ...]}")
    overrides = {"time_budget": budget} if budget is not None else {}
    overrides |= {"device": device} if device is not None else {}
    tables = [_load_table(path, name, table, base, seeds, overrides) for name, table in spec["tables"].items()]
    claims = load_claims(spec.get("claims"), {t.name: t.axes for t in tables}, str(path))
    figures = _load_figures(spec.get("figures", []), {t.name: t.axes for t in tables}, str(path))
    return Study(path, _title(spec, path.stem, str(path)), seeds, budget, tables, claims, figures)


def _title(spec: dict[str, Any], default: str, where: str) -> str:
    """A title for tables.md and the figures: one line of text (a newline broke its heading)."""
    title = spec.get("title", default)
    if not isinstance(title, str) or not title.strip() or len(title.splitlines()) != 1 \
            or any(unicodedata.category(c) == "Cc" for c in title):  # no-break spaces are text
        raise N2NError(f"{where}: title = {title!r} must be one line of text, e.g. \"Table I: optimisers\"")
    return title


def _load_figures(spec: Any, table_axes: dict[str, dict[str, list[Any]]], where: str) -> list[Figure]:
    if not isinstance(spec, list) or not all(isinstance(f, dict) for f in spec):
        raise N2NError(f"{where}: figures must be a list of [[figures]] tables")
    figures = []
    for i, item in enumerate(spec):
        here = f"{where} [[figures]] #{i + 1}"
        _check_keys(item, _FIGURE_KEYS, here)
        axes = table_axes.get(item.get("table")) if isinstance(item.get("table"), str) else None
        if axes is None:
            raise N2NError(f"{here}: table = {item.get('table')!r} must name one of the study's tables: "
                           f"{', '.join(table_axes)}")
        settings = item.get("settings")
        if not isinstance(settings, list) or not settings:
            raise N2NError(f"{here}: settings must list the cells to plot, e.g. [{{ lr = 0.001 }}]")
        for j, setting in enumerate(settings):
            check_setting(setting, axes, f"{here}: settings[{j}]")
        name = item.get("file", f"figure-{i + 1}.png")
        if not isinstance(name, str) or Path(name).name != name or not name.endswith(".png") \
                or name.startswith(".") or name in _REPORT_FILES:  # ".png" was a hidden file
            raise N2NError(f"{here}: file = {name!r} must be a new .png name inside the study folder, "
                           f"e.g. \"fig3.png\" (not {', '.join(sorted(_REPORT_FILES))})")
        figures.append(Figure(item["table"], _title(item, name, here), name, settings))
    if len({f.file for f in figures}) < len(figures):
        raise N2NError(f"{where}: two [[figures]] write the same file; give each its own file = \"...png\"")
    return figures


def _check_keys(values: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(values) - known)
    if unknown:
        raise N2NError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(known))}")


def _load_table(path: Path, name: str, spec: Any, base: dict[str, Any], seeds: list[int],
                overrides: dict[str, Any]) -> Table:
    where = f"{path} [tables.{name}]"
    if not name.strip() or len(name.splitlines()) != 1:  # figures and claims name their table by it
        raise N2NError(f"{path} [tables.{name!r}]: a table needs a name of one line of text, e.g. [tables.optimizer]")
    if not isinstance(spec, dict):
        raise N2NError(f"{where}: expected a table with axes = {{field = [values, ...]}}")
    _check_keys(spec, _TABLE_KEYS, where)
    axes, fixed = spec.get("axes"), spec.get("set", {})
    if not isinstance(axes, dict) or not axes or not all(isinstance(v, list) and v for v in axes.values()):
        raise N2NError(f"{where}: axes must map config fields to non-empty lists of values")
    if not isinstance(fixed, dict):
        raise N2NError(f"{where}: set must be a table of config fields, e.g. set = {{ lr = 0.001 }}")
    for axis, values in axes.items():  # a repeated value would train one run and show it as two rows
        # true == 1 in Python, but clip = [true, 1] is a mistake to name (below), not a repeat; 1 and 1.0 are one
        seen = [(isinstance(v, bool), v) for v in values]
        repeated = next((v for i, v in enumerate(values) if seen[i] in seen[:i]), None)
        if repeated is not None:
            raise N2NError(f"{where}: axis {axis!r} lists {json.dumps(repeated)} more than once; give each value once")
    overlap = sorted(set(axes) & set(fixed))
    if overlap:
        raise N2NError(f"{where}: {overlap[0]!r} is both an axis and in set; give it in one of them")
    for axis in ("seed", "time_budget", "time_budget_s"):
        if axis in axes or axis in fixed:
            raise N2NError(f"{where}: {axis} is set for the whole study (seeds, time_budget), not per table")
    count = math.prod(map(len, axes.values())) * len(seeds)
    if count > MAX_RUNS:  # building that many configs would take minutes and gigabytes before a word
        raise N2NError(f"{where}: {count:,} runs ({' × '.join(str(len(v)) for v in axes.values())} settings × "
                       f"{len(seeds)} seeds); a table holds at most {MAX_RUNS:,}: split it or give fewer values")
    cells = []
    for values in itertools.product(*axes.values()):
        setting = dict(zip(axes, values))
        run = {**base, **fixed, **setting, **overrides}  # the study's budget, the command line's device
        try:
            configs = [TrainConfig.from_dict({**run, "seed": s}, source=where) for s in seeds]
        except N2NError as exc:
            message = str(exc)
            raise N2NError(message if message.startswith(where) else f"{where}: {message}") from None
        cells.append(Cell(setting, configs))
    runs: dict[str, dict[str, Any]] = {}
    for cell in cells:  # values written two ways ([25, "25"]), or differing in a field runs do not use
        same = runs.setdefault(run_key(cell.configs[0]), cell.setting)
        if same is not cell.setting:
            raise N2NError(f"{where}: the cells {same} and {cell.setting} are the same run once read (or differ "
                           f"only in {', '.join(('device', *_NOT_IN_RUN_KEY))}, which runs do not use); keep one")
    baselines = spec.get("baselines", [])
    if not isinstance(baselines, list) or not all(isinstance(b, str) for b in baselines) \
            or len(set(baselines)) < len(baselines):
        raise N2NError(f"{where}: baselines = {baselines!r} must list distinct method names, e.g. [\"bm3d\"]")
    if baselines:
        from noise2noise.evaluate import METHODS

        for method in baselines:
            try:
                METHODS.entry(method)
            except N2NError as exc:
                raise N2NError(f"{where}: baselines: {exc}") from None
        varied = [axis for axis in axes if axis in _VALIDATION_FIELDS]
        if varied:
            raise N2NError(f"{where}: a table with baselines must keep its validation crops fixed, but its axis "
                           f"{varied[0]!r} changes them; give each {varied[0]} its own table")
    return Table(name, _title(spec, name, where), axes, cells, baselines)


_NUMBER = (int, float)
# what a row of runs.jsonl (by its status) or baselines.jsonl must hold for the report to read it
_ROW_FIELDS = {"ok": {"seed": int, "config": dict, "steps": int, **{m: _NUMBER for m in _METRICS}},
               "diverged": {"seed": int, "config": dict},
               "baseline": {"method": str, "psnr_db": _NUMBER, "ssim": _NUMBER, "seconds_per_crop": _NUMBER}}


def read_results(path: Path, torn: list[int] | None = None) -> dict[str, dict[str, Any]]:
    """Finished runs (runs.jsonl) or baselines (baselines.jsonl) of a study folder by key. A
    line that is not JSON is a write cut off by a crash: it is skipped (its number appended to
    ``torn``), and its run trains again; a JSON line that is not a whole row is refused in one
    line naming it, since the tables would be built from it."""
    if path.exists() and not path.is_file():
        raise N2NError(f"{path}: exists and is not a file; move it away")
    results: dict[str, dict[str, Any]] = {}
    baselines = path.name == "baselines.jsonl"
    for number, line in enumerate(path.read_bytes().splitlines() if path.is_file() else [], start=1):
        try:
            row = json.loads(line.decode("utf-8-sig"))  # a BOM: a file saved by Notepad
        except ValueError:  # UnicodeDecodeError included
            if line.strip() and torn is not None:
                torn.append(number)
            continue
        status = "baseline" if baselines else row.get("status") if isinstance(row, dict) else None
        if not isinstance(row, dict) or not isinstance(row.get("key"), str):
            problem = "not a JSON object with a key"
        elif status not in _ROW_FIELDS:
            problem = f"status {row.get('status')!r}"
        else:
            problem = next((f"no usable {name}" for name, kind in _ROW_FIELDS[status].items()
                            if isinstance(row.get(name), bool) or not isinstance(row.get(name), kind)), None)
        if problem:
            again = "that baseline is then measured again" if baselines else "that run is then trained again"
            raise N2NError(f"{path}:{number}: not a row of results ({problem}); remove that line ({again})")
        results[_current_key(row) if not baselines else row["key"]] = row
    return results


def _mend_rows(path: Path, say: Callable[[str], None]) -> None:
    """Before rows are appended to runs.jsonl or baselines.jsonl: a last line cut off
    mid-write goes (it holds no whole row), a whole last row that lacks only its newline (an
    edit) gets one, so the next row starts a line of its own; torn lines are told."""
    from noise2noise.outputs import atomic_write

    torn: list[int] = []
    read_results(path, torn)
    held = path.read_bytes() if path.is_file() else b""
    if held and not held.endswith(b"\n"):
        kept = held[: held.rfind(b"\n") + 1] if torn and torn[-1] == len(held.splitlines()) else held + b"\n"
        atomic_write(path, lambda tmp: tmp.write_bytes(kept))
        if kept != held + b"\n":
            say(f"note: {path}: its last line was torn (cut off while it was written); removed")
            torn.pop()
    if torn:
        say(f"note: {path}: line(s) {', '.join(map(str, torn))} are not JSON (writes cut off by a crash) and are "
            "skipped; what they held is made again")


def _current_key(row: dict[str, Any]) -> str:
    """A run's key as this code computes it from the config the row records: a config field
    added since the run was trained then takes its default, as in the study file read now,
    and the run still counts as finished (the key it was written with, where the recorded
    config is no longer valid)."""
    try:
        return run_key(TrainConfig.from_dict(row["config"])) if isinstance(row["config"], dict) else row["key"]
    except N2NError:
        return row["key"]


def _data_key(cfg: TrainConfig) -> str:
    return json.dumps({k: v for k, v in cfg.to_dict().items() if k not in _TRAINING_ONLY
                       and (k not in _KEY_ONLY_WHEN_SET or v != _KEY_ONLY_WHEN_SET[k])}, sort_keys=True)


def train_one(cfg: TrainConfig, source, val, code_version: str) -> tuple[dict[str, Any], Any]:
    """One run of a study: (its results row, the trained model or None if it diverged)."""
    from noise2noise.train import Diverged, fit

    row: dict[str, Any] = {"key": run_key(cfg), "seed": cfg.seed}
    load_start = _load_1m()
    try:
        result = fit(cfg, source, val, progress=False)
    except Diverged as exc:
        row |= {"status": "diverged", "diverged_step": exc.step}
        return row | {"config": cfg.to_dict(), "code_version": code_version}, None
    # how loaded the machine was: wall times and images/s depend on it, PSNRs (work budgets) do not
    import torch

    row |= {"machine": _machine(), "threads": torch.get_num_threads(), "load_1m": [load_start, _load_1m()]}
    curve = [[r["step"], r["loss"]] for r in result.log if r["kind"] == "train"]
    row |= {"status": "ok", "steps": result.steps, "images": result.images,
            "train_time_s": round(result.train_time_s, 2), "wall_time_s": round(result.wall_time_s, 2),
            "images_per_s": round(result.images_per_s, 1), **{k: result.metrics[k] for k in _METRICS},
            "curve": curve}
    return row | {"config": cfg.to_dict(), "code_version": code_version}, result.model


def run_sweep(study: Study, out_dir: str | Path, say: Callable[[str], None] = print, jobs: int = 1) -> Path:
    """Train every run of ``study`` not yet in ``out_dir``/runs.jsonl, appending each result
    as it finishes (a diverged run is recorded, never fatal), then write the report. The
    folder is locked meanwhile, and holds one study: another study's folder is refused.
    ``jobs`` > 1 trains that many runs at a time, each in its own process with an equal
    share of the CPU cores; this process alone writes runs.jsonl."""
    from noise2noise.rundir import config_inputs, locked
    from noise2noise.zoo import resolve_model

    if jobs < 1:
        raise N2NError(f"--jobs {jobs}: runs trained at the same time must be 1 or more")
    out_dir = Path(out_dir)
    _preflight(study)
    configs = [cfg for cfg, _ in study.runs().values()]
    inputs = [study.path, *{p for cfg in configs for p in config_inputs(cfg)}]
    for start in {cfg.init_weights for cfg in configs if cfg.init_weights is not None}:
        if resolve_model(start, "init_weights").resolve().is_relative_to(out_dir.resolve()):  # best.pt replaces it
            raise N2NError(f"init_weights {start} is inside the study folder {out_dir}, where the sweep writes "
                           "best.pt and its reports; copy it elsewhere first")
    with locked(out_dir, inputs):
        record = _data_record(study)
        _check_study_record(study, out_dir, record)
        return _run_sweep(study, out_dir, say, jobs, record)


def report_sweep(study: Study, out_dir: str | Path, say: Callable[[str], None] = print) -> Path:
    """Rewrite a study folder's reports from its runs.jsonl, training nothing; returns tables.md.
    A folder of another study is refused, as ``run_sweep`` refuses it."""
    from noise2noise.rundir import locked

    out_dir = Path(out_dir)
    if not (out_dir / "runs.jsonl").is_file():
        raise N2NError(f"{out_dir}: no runs.jsonl to report on; run the sweep first (without --report-only)")
    with locked(out_dir):
        _check_study_record(study, out_dir, None)  # the data are not read: the report shows what was trained
        torn: list[int] = []
        read_results(out_dir / "runs.jsonl", torn)
        if torn:
            say(f"note: {out_dir / 'runs.jsonl'}: line(s) {', '.join(map(str, torn))} are not JSON and are left out "
                "of the report; a sweep (without --report-only) trains their runs again")
        return write_report(study, out_dir)


_SMALL_CROPS = "leave {name} out of that table's baselines, or give it larger crops"
_NEEDS_VALIDATION = "a study needs validation data (val_data, or clean images to hold out with val_fraction > 0)"


def _preflight(study: Study) -> None:
    """What a sweep checks before it makes its folder or trains a run, cheaply: every run's
    data and validation (a bad folder in the last table would otherwise stop the sweep hours
    in), and the optional packages its runs and baselines need."""
    from noise2noise.data import (
        TensorPairs,
        check_sources,
        is_course_file,
        load_tensor_pairs,
        paired_files,
        refuse_unused_settings,
    )
    from noise2noise.devices import resolve_device
    from noise2noise.zoo import resolve_model

    configs = [cfg for cfg, _ in study.runs().values()]
    for cfg in {(cfg.data, cfg.val_data, cfg.val_fraction): cfg for cfg in configs}.values():
        check_sources(cfg)
        if cfg.val_data is None and cfg.val_fraction == 0:
            raise N2NError(f"{cfg.data}: {_NEEDS_VALIDATION}")
    for data in {cfg.data for cfg in configs}:  # settings the data would not use: a tensor file is read for its count
        pairs = TensorPairs(*load_tensor_pairs(data), where=data) if is_course_file(data) else \
            paired_files(data) if Path(data).is_dir() else None
        for cfg in configs:
            if cfg.data == data:
                refuse_unused_settings(cfg, pairs)
    _check_crops(study)
    for start in {cfg.init_weights for cfg in configs if cfg.init_weights is not None}:
        resolve_model(start, "init_weights")  # a missing file would stop the sweep at its first run from it
    for device in {cfg.device for cfg in configs}:
        resolve_device(device)
    if any(cfg.tensorboard for cfg in configs):
        require_tensorboard()
    if any(table.baselines for table in study.tables):
        from noise2noise.evaluate import check_size, require_methods

        require_methods([m for table in study.tables for m in table.baselines])  # bm3d: an extra
        for table in study.tables:  # validation crops of crop_px (a tensor file's are checked when measured)
            cfg = table.cells[0].configs[0]
            for method in table.baselines if cfg.val_data is None or not is_course_file(cfg.val_data) else ():
                check_size(method, (cfg.crop_px,), f"[tables.{table.name}] crop_px {cfg.crop_px}", _SMALL_CROPS)


def _check_crops(study: Study) -> None:
    """Each run on clean or single noisy images crops its data and validation images at its
    crop_px: a table whose crops are larger than an image would fail at its first run, after
    the tables before it had trained. Sizes are read once per source, from file headers where
    they have one (``images.image_size_px``): no pixels are held."""
    from noise2noise.data import check_crop_size, is_course_file

    smallest: dict[str, tuple[str, int, int] | None] = {}  # per source: its image with the shortest side
    for table in study.tables:
        for cfg in (cfg for cell in table.cells for cfg in cell.configs):
            for source in (cfg.data, cfg.val_data):
                if source is None or is_course_file(source):
                    continue
                if source not in smallest:
                    smallest[source] = _smallest_image(source)
                if smallest[source] is not None:
                    check_crop_size(*smallest[source], cfg.crop_px, f"[tables.{table.name}] crop_px")


def _smallest_image(source: str) -> tuple[str, int, int] | None:
    """(name, width, height) of the image of 'embedded' or a folder with the shortest side; None
    for a folder of noisy pairs (it checks its own pairs as it reads them)."""
    from noise2noise.data import paired_files
    from noise2noise.images import embedded_images, image_size_px, list_images

    if source == "embedded":  # eight photos, decoded in a second
        sizes = [(name, image.shape[-1], image.shape[-2]) for split in ("train", "test")
                 for name, image in embedded_images(split)]
    elif paired_files(source) is None:
        sizes = [(str(f), *image_size_px(f)) for f in list_images(source)]
    else:
        return None
    return min(sizes, key=lambda size: min(size[1:]), default=None)


def _data_record(study: Study) -> dict[str, dict[str, Any]]:
    """What each data source of the study's runs is now: its path as the runs name it, the
    folder or file that path reaches from here, and ``data_fingerprint`` of its files."""
    from noise2noise.data import data_fingerprint

    record = {}
    for cfg, _ in study.runs().values():
        for source in (cfg.data, cfg.val_data):
            if source is not None and source not in record:
                one = TrainConfig(data=source, val_data=None) if source != "embedded" else TrainConfig()
                record[source] = {"resolved": str(Path(source).resolve()) if source != "embedded" else source,
                                  "fingerprint": data_fingerprint(one)}
    return record


def _check_study_record(study: Study, out_dir: Path, record: dict[str, dict[str, Any]] | None) -> None:
    """A study folder holds one study (study.json names its file), trained at one budget on
    data that have not changed since: else its tables would set runs of other settings or
    other images side by side, and its best.pt be replaced by a run of another budget.
    A folder that holds other files and no study.json (a training run, someone's notes) is
    not a study folder, unless all it holds are reports with runs of this study."""
    from noise2noise.rundir import folder_contents

    path = out_dir / "study.json"
    held = sorted(folder_contents(out_dir)) if out_dir.is_dir() else []
    if not path.exists():
        ours = set(held) <= _REPORT_FILES | {TENSORBOARD_DIR, *(f.file for f in study.figures)} and \
            bool(set(read_results(out_dir / "runs.jsonl")) & set(study.runs()))
        if held and not ours:
            raise N2NError(f"{out_dir}: holds {len(held)} file(s) or folder(s) (such as {held[0]}) and no study.json, "
                           "so it is not a study's folder and the reports would replace its files; choose a new or "
                           "empty --out")
        return
    try:
        recorded = json.loads(path.read_text())
        name, budget, data = recorded["study"], recorded.get("time_budget"), recorded.get("data", {})
        if not isinstance(name, str) or not isinstance(data, dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise N2NError(f"{path}: not a study record (torn or edited), so whose runs this folder holds is not known; "
                       "choose another --out, or delete study.json if they are this study's") from None
    if Path(name).name != study.path.name:
        raise N2NError(f"{out_dir}: holds the results of study {name}; choose another --out "
                       f"(re-running {study.path.name} into its own folder continues it)")
    if budget is None and "time_budget" in recorded:  # null: no budget, or (older versions) one set in [base]
        trained = {row["config"].get("time_budget") for row in read_results(out_dir / "runs.jsonl").values()}
        other = next(iter(trained - {cfg.time_budget for cfg, _ in study.runs().values()}), False)
        if other is not False:
            raise N2NError(f"{out_dir}: its runs were trained at time_budget {other!r} (runs.jsonl), not "
                           f"{study.time_budget!r}; "
                           + (f"pass --budget {other!r} to continue or report them, or " if other else "")
                           + "choose another --out")
    elif budget is not None and budget != study.time_budget:
        raise N2NError(f"{out_dir}: its runs were trained at time_budget {budget!r} (study.json), not "
                       f"{study.time_budget!r}; pass --budget {budget!r} to continue or report them, or choose "
                       "another --out")
    for source, now in (record or {}).items():  # by fingerprint: a copied or cloned project continues
        then = data.get(source)
        if isinstance(then, dict) and then.get("fingerprint") != now["fingerprint"]:
            raise N2NError(f"{out_dir}: its runs were trained on {source} as it was then (study.json), and its files "
                           "differ now (names or sizes); restore them, or choose another --out")


def _run_sweep(study: Study, out_dir: Path, say: Callable[[str], None], jobs: int,
               record: dict[str, dict[str, Any]]) -> Path:
    from noise2noise import checkpoint
    from noise2noise.outputs import write_json

    results_path = out_dir / "runs.jsonl"
    _mend_rows(results_path, say)
    runs, done = study.runs(), read_results(results_path)
    todo = [key for key in runs if key not in done]
    data_order = list(dict.fromkeys(_data_key(cfg) for cfg, _ in runs.values()))
    todo.sort(key=lambda k: data_order.index(_data_key(runs[k][0])))  # stable: study order within
    budget = study.time_budget or "the base config's budget"
    say(f"{study.path}: {len(runs)} runs, {len(runs) - len(todo)} already in {results_path}; "
        f"{len(todo)} to train at {budget} each")
    version = checkpoint.code_version()
    varying = _varying_fields([cfg for cfg, _ in runs.values()])
    try:  # data sources of runs an edit left out keep their entries: the next edit may bring them back
        kept = json.loads((out_dir / "study.json").read_text()).get("data", {})
    except OSError:
        kept = {}
    write_json(out_dir / "study.json", {"study": str(study.path), "title": study.title, "seeds": study.seeds,
                                        "time_budget": study.time_budget, "code_version": version,
                                        "data": kept | record})
    best_db = max((r["psnr_db"] for k, r in done.items() if k in runs and r["status"] == "ok"), default=-math.inf)
    best = None
    trained = _train_parallel(runs, todo, version, jobs, say) if jobs > 1 else _train_serial(runs, todo, version, say)
    with contextlib.closing(trained):  # on Ctrl-C in this loop too, the workers stop before the lock is let go
        for i, (key, row, model, val) in enumerate(trained, start=1):
            cfg, label = runs[key]
            with open(results_path, "a") as f:  # one writer, one whole line per run: rows never interleave
                f.write(json.dumps(row) + "\n")
            if cfg.tensorboard:
                _mirror_run(out_dir / TENSORBOARD_DIR / key, row, varying)
            if row["status"] == "diverged":
                say(f"[{i}/{len(todo)}] {label}: diverged at step {row['diverged_step']}")
                continue
            say(f"[{i}/{len(todo)}] {label}: {row['psnr_db']:.2f} dB (noisy {row['psnr_noisy_db']:.2f}), "
                f"{row['steps']} steps")
            if row["psnr_db"] > best_db:
                best_db, best = row["psnr_db"], (model, val, row, label)
                checkpoint.save(out_dir / "best.pt", model, cfg, run_key=key, label=label, finished=True)
    if best is not None and best[1] is None:  # trained in a worker: its validation crops stayed there
        best = (best[0], _load_data(runs[best[2]["key"]][0])[1], *best[2:])
    _write_best_samples(out_dir, best, results_path)
    _measure_baselines(study, out_dir, say)
    return write_report(study, out_dir)


def _baseline_key(table: Table, method: str) -> str:
    """A baseline's identity: the method and the table's validation crops (its first run's data)."""
    return hashlib.sha1(json.dumps([method, _data_key(table.cells[0].configs[0])]).encode()).hexdigest()[:16]


def _find_baseline(baselines: dict[str, dict[str, Any]], table: Table, method: str) -> dict[str, Any] | None:
    """A table's measured baseline, also where it was keyed before ``_KEY_ONLY_WHEN_SET``
    applied to the data (every field then counted), so it is not measured again."""
    cfg = table.cells[0].configs[0]
    before = json.dumps({k: v for k, v in cfg.to_dict().items() if k not in _TRAINING_ONLY}, sort_keys=True)
    return baselines.get(_baseline_key(table, method),
                         baselines.get(hashlib.sha1(json.dumps([method, before]).encode()).hexdigest()[:16]))


def _measure_baselines(study: Study, out_dir: Path, say: Callable[[str], None]) -> None:
    """Each table's baselines on its validation crops, once: a row per (method, crops) in
    baselines.jsonl, with the same PSNR and SSIM as the trained runs and the seconds per crop."""
    path = out_dir / "baselines.jsonl"
    _mend_rows(path, say)
    done = read_results(path)
    todo = [(table, method) for table in study.tables for method in table.baselines
            if _find_baseline(done, table, method) is None]
    if not todo:
        return
    import torch

    from noise2noise.evaluate import METHODS, check_size, known_noise
    from noise2noise.metrics import psnr_db, ssim
    from noise2noise.noise import GaussianNoise, build_noise

    crops: dict[str, Any] = {}  # validation crops (data.Validation) by data config: loaded once for all methods
    for table, method in todo:
        key = _baseline_key(table, method)
        if key in done:  # two tables on the same crops
            continue
        cfg = table.cells[0].configs[0]
        if _data_key(cfg) not in crops:
            crops[_data_key(cfg)] = _load_data(cfg)[1]
        noisy, clean, _ = crops[_data_key(cfg)]
        check_size(method, noisy.shape[-2:], f"{cfg.val_data or cfg.data}: validation crops", _SMALL_CROPS)
        known = known_noise(build_noise(cfg.noise, cfg.noise_level, cfg.clip))
        sigma = known.level[0] if isinstance(known, GaussianNoise) else None
        say(f"baseline {method} on {noisy.shape[0]} validation crops of table {table.name} ...")
        started = time.perf_counter()
        denoised = torch.stack([METHODS[method](image, known) for image in noisy]).clamp(0, 255) / 255.0
        seconds = time.perf_counter() - started
        row = {"key": key, "method": method, "table": table.name, "crops": int(noisy.shape[0]), "sigma": sigma,
               "psnr_db": psnr_db(denoised, clean / 255.0), "ssim": ssim(denoised, clean / 255.0),
               "seconds_per_crop": round(seconds / noisy.shape[0], 4), "machine": _machine()}
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")
        done[key] = row
        say(f"baseline {method}, table {table.name}: {row['psnr_db']:.2f} dB ({row['seconds_per_crop']:g} s per crop)")


def _load_data(cfg: TrainConfig, say: Callable[[str], None] | None = None) -> tuple[Any, Any]:
    """The training pairs and validation crops of ``cfg``; a study needs both."""
    from noise2noise.data import build_training_data

    started = time.perf_counter()
    source, val = build_training_data(cfg)
    if val is None:
        raise N2NError(f"{cfg.data}: {_NEEDS_VALIDATION}")
    if say is not None:
        say(f"loaded {cfg.data}: {len(source)} pairs per epoch, {val[0].shape[0]} validation crops "
            f"({time.perf_counter() - started:.1f} s)")
    return source, val


def _train_serial(runs: dict[str, tuple[TrainConfig, str]], todo: list[str], version: str,
                  say: Callable[[str], None]) -> Iterator[tuple[str, dict[str, Any], Any, Any]]:
    """Train ``todo`` one after the other in this process: (key, row, model, val) per run."""
    data_key, source, val = None, None, None
    for key in todo:
        cfg = runs[key][0]
        if _data_key(cfg) != data_key:  # todo is grouped by data: each data config loads once
            source, val = _load_data(cfg, say)
            data_key = _data_key(cfg)
        row, model = train_one(cfg, source, val, version)
        yield key, row, model, val


def _train_parallel(runs: dict[str, tuple[TrainConfig, str]], todo: list[str], version: str, jobs: int,
                    say: Callable[[str], None]) -> Iterator[tuple[str, dict[str, Any], Any, None]]:
    """Train ``todo`` in ``jobs`` worker processes of cores // jobs threads each, yielding
    (key, row, model on the CPU, None) as runs finish. Each worker keeps the data it loaded
    last, and todo is grouped by data, so a worker loads each data config about once.
    Ctrl-C or SIGTERM in this process stops the workers (the runs they were training are
    lost; the rows already yielded are kept); so does a worker that dies (the out-of-memory
    killer, kill -9), which is reported as a user error rather than waited for."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    threads = max(1, _cpu_cores() // jobs)
    workers = min(jobs, len(todo))
    say(f"training {workers} runs at a time, {threads} thread(s) each")
    if not todo:
        return
    # tasks go in one at a time per free worker, in todo's order, so runs of one data config
    # follow each other; an executor (unlike multiprocessing.Pool) fails when a worker dies
    executor = ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"), _start_worker, (threads,))
    waiting = iter((key, runs[key][0], version) for key in todo)
    try:
        running = {executor.submit(_train_in_worker, task) for task in itertools.islice(waiting, workers)}
        while running:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                key, row, model = future.result()
                running |= {executor.submit(_train_in_worker, task) for task in itertools.islice(waiting, 1)}
                yield key, row, model, None
        executor.shutdown()  # all done: the workers exit on their own
    except BrokenProcessPool:
        _stop_workers(executor)
        raise N2NError(f"a worker process of --jobs {jobs} died mid-run (killed by the operating system, e.g. out "
                       "of memory); the finished runs are kept: run the same command again to continue, with a "
                       "smaller --jobs or --batch-size") from None
    except BaseException:
        _stop_workers(executor)  # on Ctrl-C, SIGTERM or an error: the workers stop now, mid-run
        raise


def _stop_workers(executor: Any) -> None:
    """Stop an executor's workers mid-run: SIGTERM (a worker exits as Python does), then wait."""
    processes = list((executor._processes or {}).values())  # Python < 3.14 has no terminate_workers()
    for process in processes:
        if process.exitcode is None:
            process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)
    for process in processes:
        process.join(timeout=30)
        if process.exitcode is None:  # stuck: a worker must not outlive the sweep
            process.kill()
            process.join()


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (taskset, containers)
    except AttributeError:
        return os.cpu_count() or 1


_worker_data: dict[str, tuple[Any, Any]] = {}  # in a worker: the data config it loaded last


def _start_worker(threads: int) -> None:
    import signal
    import threading

    import torch
    from tqdm import tqdm

    # tqdm's default lock holds a named semaphore, which a worker stopped mid-exit by the pool's
    # SIGTERM leaves half released ("leaked semaphore" warnings, seen in CI): a worker draws no bar
    tqdm.set_lock(threading.RLock())

    # Ctrl-C reaches the whole process group: the parent alone handles it and stops the workers,
    # with SIGTERM, on which a worker exits as Python does, releasing what it holds (semaphores)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_worker)
    torch.set_num_threads(threads)


def _exit_worker(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _train_in_worker(task: tuple[str, TrainConfig, str]) -> tuple[str, dict[str, Any], Any]:
    key, cfg, version = task
    if _data_key(cfg) not in _worker_data:
        _worker_data.clear()  # one data config in memory at a time
        _worker_data[_data_key(cfg)] = _load_data(cfg)
    row, model = train_one(cfg, *_worker_data[_data_key(cfg)], version)
    return key, row, model.cpu() if model is not None else None


def _conditions(rows: list[dict[str, Any]]) -> str:
    """Where and under which load the rows were measured, in one paragraph of the report."""
    timed = [r for r in rows if r["status"] == "ok" and "images_per_s" in r]
    if not timed:
        return ""
    rates = sorted(r["images_per_s"] for r in timed)
    text = (f"Conditions: {len(timed)} trained runs at {rates[0]:g}–{rates[-1]:g} images/s "
            f"(median {statistics.median(rates):g}); wall time per run {min(r['wall_time_s'] for r in timed):g}–"
            f"{max(r['wall_time_s'] for r in timed):g} s.")
    described = [r for r in timed if "machine" in r]
    if described:
        loads = [x for r in described for x in r["load_1m"] if x is not None]
        text += (f" Machine: {'; '.join(sorted({r['machine'] for r in described}))}; "
                 f"threads per run: {', '.join(map(str, sorted({r['threads'] for r in described})))}")
        text += f"; 1-minute load at run start/end: {min(loads):g}–{max(loads):g}." if loads else "."
    if len(described) < len(timed):
        text += f" ({len(timed) - len(described)} rows predate the recording of machine and load.)"
    return text + "\n"


def _load_1m() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)  # runnable processes, averaged over the last minute
    except (AttributeError, OSError):
        return None


@functools.cache  # the same for every run of a process
def _machine() -> str:
    """The CPU (and GPU) a run trained on, in one line: 'x86_64, 2 cores, Intel(R) Xeon(R) ...'."""
    import platform

    import torch

    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name")) or cpu
    except (OSError, StopIteration):
        pass
    machine = f"{platform.machine()}, {_cpu_cores()} cores" + (f", {cpu}" if cpu else "")
    if torch.cuda.is_available():
        machine += f", {torch.cuda.get_device_name()}"
    return machine


def _varying_fields(configs: list[TrainConfig]) -> list[str]:
    """The config fields whose values differ between a study's runs (its axes and seeds)."""
    values = [cfg.to_dict() for cfg in configs]
    return [name for name in values[0] if any(v[name] != values[0][name] for v in values)] if values else []


def _mirror_run(log_dir: Path, row: dict[str, Any], varying: list[str]) -> None:
    """One finished run in TensorBoard: its loss curve, and the settings that vary in the
    study with the run's results (the HParams view compares them across runs)."""
    with TensorBoardMirror(log_dir) as board:
        for step, loss in row.get("curve", []):
            board.write({"kind": "train", "step": step, "loss": loss})
        results = {k: row[k] for k in (*_METRICS, "steps", "train_time_s", "diverged_step") if k in row}
        board.add_hparams({name: row["config"][name] for name in varying}, results)


def _write_best_samples(out_dir: Path, best: tuple | None, results_path: Path) -> None:
    """samples.png of the best run: from memory when this sweep found it, else (only when
    the figure is missing, e.g. after an interrupted sweep) from best.pt and its data."""
    from noise2noise.checkpoint import load_model
    from noise2noise.data import build_training_data
    from noise2noise.train import write_samples

    if best is None and ((out_dir / "samples.png").is_file() or not (out_dir / "best.pt").is_file()):
        return
    if best is None:
        model, payload = load_model(out_dir / "best.pt")
        val = build_training_data(TrainConfig.from_dict(payload["config"]), new_run=False)[1]
        row = read_results(results_path).get(_current_key({"config": payload["config"], "key": payload["run_key"]}))
        if row is None:  # best.pt of a run that runs.jsonl no longer holds (lines removed by hand)
            return
        best = (model, val, row, payload["label"])
    model, val, row, label = best
    write_samples(model, val, row, out_dir / "samples.png", title=f"best run ({label})")


def _cell_runs(cell: Cell, results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [results[run_key(cfg)] for cfg in cell.configs if run_key(cfg) in results]


def _cell_psnr(rows: list[dict[str, Any]]) -> tuple[float, float] | None:
    values = [r["psnr_db"] for r in rows if r["status"] == "ok"]
    if not values:
        return None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _cell_text(rows: list[dict[str, Any]], n_seeds: int, best: bool) -> str:
    stats = _cell_psnr(rows)
    diverged = sum(r["status"] == "diverged" for r in rows)
    if not rows:
        return "–"
    if stats is None:
        return "diverged" if diverged == len(rows) else "–"
    text = f"{stats[0]:.2f} ± {stats[1]:.2f}"
    text = f"**{text}**" if best else text
    if diverged:
        text += f" ({diverged}/{n_seeds} diverged)"
    elif len(rows) < n_seeds:
        text += f" ({len(rows)}/{n_seeds} seeds)"
    return text


def format_table(table: Table, results: dict[str, dict[str, Any]], n_seeds: int) -> str:
    """A markdown table of mean ± std PSNR (dB) over seeds; the best setting in bold."""
    runs = [_cell_runs(cell, results) for cell in table.cells]
    means = [_cell_psnr(rows) if rows and all(r["status"] == "ok" for r in rows) else None for rows in runs]
    scores = [m[0] if m and math.isfinite(m[0]) else -math.inf for m in means]  # (rows of older versions: NaN)
    best = scores.index(max(scores)) if max(scores) > -math.inf else -1
    texts = [_cell_text(rows, n_seeds, i == best) for i, rows in enumerate(runs)]
    axes = list(table.axes)
    if len(axes) == 1:
        header = [axes[0], "PSNR (dB)"]
        body = [[_fmt(cell.setting[axes[0]]), text] for cell, text in zip(table.cells, texts)]
    else:
        columns = table.axes[axes[-1]]
        header = [f"{' × '.join(axes[:-1])} \\ {axes[-1]}", *[_fmt(v) for v in columns]]
        body = []
        for start in range(0, len(texts), len(columns)):
            setting = table.cells[start].setting
            body.append([", ".join(_fmt(setting[a]) for a in axes[:-1]), *texts[start : start + len(columns)]])
    lines = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
    lines += [f"| {' | '.join(row)} |" for row in body]
    noisy = [r["psnr_noisy_db"] for rows in runs for r in rows if r["status"] == "ok"]
    if noisy:
        lines.append(f"\nNoisy input: {statistics.fmean(noisy):.2f} dB.")
    return "\n".join(lines)


def write_report(study: Study, out_dir: str | Path) -> Path:
    """tables.md, runs.csv and curves.png from the study's results file; returns tables.md."""
    from noise2noise.figures import loss_curves
    from noise2noise.outputs import atomic_write

    out_dir = Path(out_dir)
    results = read_results(out_dir / "runs.jsonl")
    runs = study.runs()
    budget = study.time_budget or "see config"
    parts = [f"# {study.title}\n",
             f"Held-out PSNR (dB), mean ± std over seeds {', '.join(map(str, study.seeds))}; "
             f"time budget per run: {budget}; best setting of each table in bold; study file: "
             f"`{study.path}`; {sum(k in results for k in runs)}/{len(runs)} runs finished.\n"]
    rows = [results[k] for k in runs if k in results]
    parts.append(_conditions(rows))
    if (out_dir / "best.pt").is_file():
        from noise2noise.checkpoint import load

        kept = load(out_dir / "best.pt")
        # the study file was edited since that run was the best
        if _current_key({"config": kept.get("config"), "key": kept.get("run_key")}) not in runs:
            parts.append(f"`best.pt` and `samples.png` hold the run {kept.get('label')!r}, which this study file no "
                         "longer has; a new run of it that beats its finished ones replaces them.\n")
    psnr_by_seed = {(table.name, setting_label(cell.setting)): {r["seed"]: r["psnr_db"] for r in
                                                                   _cell_runs(cell, results) if r["status"] == "ok"}
                    for table in study.tables for cell in table.cells}
    baselines = read_results(out_dir / "baselines.jsonl")
    for table in study.tables:
        parts.append(f"## {table.title}\n\n{format_table(table, results, len(study.seeds))}\n")
        measured = [row for m in table.baselines if (row := _find_baseline(baselines, table, m)) is not None]
        if measured:
            parts.append("Baselines on the same validation crops (`baselines.jsonl`): " + "; ".join(
                f"{r['method']} {r['psnr_db']:.2f} dB, SSIM {r['ssim']:.3f} ({r['seconds_per_crop']:g} s per crop)"
                for r in measured) + ".\n")
        claims = [c for c in study.claims if c.table == table.name]
        if claims:
            parts.append("Claims, paired over seeds (two-sided t-test, 5%):\n\n"
                         f"{format_claims(claims, psnr_by_seed)}\n")
    tables_path = atomic_write(out_dir / "tables.md", lambda tmp: tmp.write_text("\n".join(parts)))

    columns = ["key", "status", "seed", *_METRICS, "steps", "images", "train_time_s", "wall_time_s", "images_per_s",
               "diverged_step", "threads", "load_1m", "machine"]
    columns += [name for name in TrainConfig().to_dict() if name not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row["config"], **row})
    atomic_write(out_dir / "runs.csv", lambda tmp: tmp.write_text(buffer.getvalue()))

    panels = {table.title: {_curve_label(cell, results): _mean_curve(_cell_runs(cell, results))
                            for cell in table.cells} for table in study.tables}
    loss_curves(panels, out_dir / "curves.png")
    tables_by_name = {table.name: table for table in study.tables}
    for figure in study.figures:
        cells = [next(c for c in tables_by_name[figure.table].cells if c.setting == s) for s in figure.settings]
        loss_curves({figure.title: {_curve_label(c, results): _mean_curve(_cell_runs(c, results)) for c in cells}},
                    out_dir / figure.file)
    return tables_path


def _curve_label(cell: Cell, results: dict[str, dict[str, Any]]) -> str:
    rows = _cell_runs(cell, results)
    diverged = rows and all(r["status"] == "diverged" for r in rows)
    return ", ".join(_fmt(v) for v in cell.setting.values()) + (" (diverged)" if diverged else "")


def _mean_curve(rows: list[dict[str, Any]]) -> tuple[list[int], list[float]]:
    """The training loss averaged over the seeds that reached each logged step (under a
    time budget, seeds reach different step counts)."""
    curves = [dict(map(tuple, r["curve"])) for r in rows if r["status"] == "ok"]
    steps = sorted(set().union(*curves))
    return steps, [statistics.fmean(c[s] for c in curves if s in c) for s in steps]
