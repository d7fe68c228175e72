"""A TensorBoard mirror of a run's record: the rows of metrics.jsonl as scalars, the sample
figure as an image, and a study's settings with their results as hyper-parameters (the
HParams view). metrics.jsonl stays the record; this only mirrors it.

Needs the ``tensorboard`` extra: ``pip install 'noise2noise[tensorboard]'``; then
``tensorboard --logdir RUN/tb`` (a run) or ``--logdir STUDY/tb`` (a study: one sub-folder per run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from noise2noise.errors import N2NError

TENSORBOARD_DIR = "tb"  # inside a run or study folder


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def require_tensorboard() -> None:
    """Fail before any training when the tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401  (imports tensorboard)
    except ImportError:
        raise N2NError("config field tensorboard=true needs the tensorboard package: "
                       "pip install 'noise2noise[tensorboard]' (or set tensorboard = false)") from None


class TensorBoardMirror:
    """Mirror a run into a TensorBoard log folder. ``writer``: anything with SummaryWriter's
    ``add_scalar``, ``add_image``, ``add_hparams`` and ``close`` (default: a SummaryWriter)."""

    def __init__(self, log_dir: str | Path, writer: Any = None) -> None:
        self.log_dir = Path(log_dir)
        if writer is None:
            require_tensorboard()
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.log_dir))
        self.writer = writer

    def write(self, row: dict[str, Any]) -> None:
        """One row of metrics.jsonl, e.g. {"kind": "train", "step": 50, "loss": 0.02, "lr": 1e-3,
        "img_per_s": 170.0} or {"kind": "val", "step": 50, "psnr_db": 28.1, "ssim": 0.8}: each
        number becomes scalar KIND/NAME ('train/loss', 'val/psnr_db') at that step."""
        kind, step = row.get("kind", "run"), row.get("step", 0)
        for name, value in row.items():
            if name not in ("kind", "step") and _is_number(value):
                self.writer.add_scalar(f"{kind}/{name}", value, step)

    def add_figure(self, path: str | Path, tag: str = "samples", step: int = 0) -> None:
        """A PNG figure (samples.png: noisy / clean / denoised) as image ``tag``."""
        import imageio.v3 as iio
        import numpy as np

        image = np.asarray(iio.imread(path))
        image = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image[:, :, :3]  # alpha dropped
        self.writer.add_image(tag, image, step, dataformats="HWC")

    def add_hparams(self, settings: dict[str, Any], results: dict[str, float]) -> None:
        """One run's settings (numbers, strings and booleans; anything else as text) and its
        results (numbers, shown as 'hparam/NAME' in the HParams view, beside this run's scalars)."""
        hparams = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in settings.items()}
        metrics = {f"hparam/{k}": float(v) for k, v in results.items() if _is_number(v)}
        self.writer.add_hparams(hparams, metrics, run_name=".")  # ".": this folder, with the scalars

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> TensorBoardMirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
