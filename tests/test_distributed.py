"""Data-parallel training: 2 ranks on the CPU with the gloo backend."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from noise2noise.config import TrainConfig
from noise2noise.data import SyntheticPairs
from noise2noise.images import embedded_images
from noise2noise.noise import GaussianNoise
from noise2noise.train import fit

CFG = TrainConfig(width=8, depth=2, batch_size=8, lr=3e-3, log_every=5, eval_every_s=0, checkpoint_every_s=0,
                  time_budget=None, epochs=2, pairs_per_epoch=160, device="cpu")


def _rank(rank: int, world_size: int, folder: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world_size)
    torch.set_num_threads(1)
    source = SyntheticPairs(embedded_images("test")[:1], GaussianNoise(), 32, CFG.pairs_per_epoch)
    out_dir = Path(folder) / "run" if rank == 0 else None
    if out_dir:
        out_dir.mkdir()
    result = fit(CFG, source, None, out_dir=out_dir, progress=False)
    torch.save({k: v.clone() for k, v in result.model.state_dict().items()}, f"{folder}/rank{rank}.pt")
    torch.save(torch.tensor([result.steps]), f"{folder}/steps{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
def test_two_ranks_end_with_identical_weights_and_a_falling_loss(tmp_path):
    mp.start_processes(_rank, args=(2, str(tmp_path)), nprocs=2, start_method="spawn", join=True)
    weights = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for name in weights[0]:
        torch.testing.assert_close(weights[0][name], weights[1][name], rtol=0, atol=0)
    steps = [int(torch.load(tmp_path / f"steps{r}.pt", weights_only=True)) for r in range(2)]
    assert steps == [20, 20]  # 160 pairs per epoch shared by 2 ranks, batch 8, 2 epochs
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r["kind"] == "train"]
    assert len(losses) == 4 and losses[-1] < losses[0]


@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")
def test_torchrun_launches_the_cli_and_rank_0_writes_the_run(tmp_path, photo_folder):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "noise2noise.cli",
                           "train", "--data", str(photo_folder), "--out", str(tmp_path / "run"), "--width", "8",
                           "--depth", "2", "--time-budget", "4 steps", "--batch-size", "8", "--val-patches", "8",
                           "--device", "cpu", "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("validation (8 images)") == 1  # printed by rank 0 only
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["validation"]["psnr_db"] > 0 and results["steps"] > 0
