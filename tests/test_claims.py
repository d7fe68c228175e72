"""Claims of a replicated study, judged by paired comparisons over seeds."""

import json

import pytest

from noise2noise.claims import format_claims, load_claims, paired_verdict
from noise2noise.errors import N2NError
from noise2noise.sweep import load_study, run_key, write_report

AXES = {"loss": {"loss": ["l2", "l1"]}, "optimizer": {"optimizer": ["sgd", "adam"], "lr": [0.01, 0.001]}}


@pytest.mark.parametrize("diffs, verdict", [
    ([0.5, 0.6, 0.55], "confirmed"),            # consistent gain on every seed
    ([-0.5, -0.6, -0.55], "refuted"),           # consistent loss
    ([0.9, -0.7, 0.1], "within seed-to-seed noise"),
    ([0.3, 0.3, 0.3], "confirmed"),              # no spread at all
    ([0.4], "too few seeds to judge"),
])
def test_paired_verdict(diffs, verdict):
    assert paired_verdict(diffs) == verdict


def test_a_large_mean_with_a_large_spread_is_not_called_confirmed():
    # mean +1.0 dB but one seed disagrees: t = 1.0 / (1.73 / sqrt(3)) ~ 1.0 < 4.30
    assert paired_verdict([2.0, 2.0, -1.0]) == "within seed-to-seed noise"


@pytest.mark.parametrize("claim, message", [
    ({"table": "nope", "claim": "x", "better": {"loss": "l2"}, "worse": {"loss": "l1"}}, "no table 'nope'"),
    ({"table": "loss", "claim": "x", "better": {"loss": "l3"}, "worse": {"loss": "l1"}}, "must give a value"),
    ({"table": "optimizer", "claim": "x", "better": {"optimizer": "adam"}, "worse": {"optimizer": "sgd"}},
     "must give a value of each of the table's axes"),
    ({"table": "loss", "claim": "x", "better": {"loss": "l2"}}, "missing worse"),
    ({"table": "loss", "claim": "x", "better": {"loss": "l2"}, "worse": {"loss": "l1"}, "bogus": 1},
     "unknown key 'bogus'"),
])
def test_bad_claims_are_refused_with_the_reason(claim, message):
    with pytest.raises(N2NError, match=message):
        load_claims([claim], AXES, "study.toml")


def test_the_claims_table_shows_the_seed_report_per_seed_differences_and_verdict():
    claims = load_claims([{"table": "loss", "claim": "L2 beats L1", "better": {"loss": "l2"},
                           "worse": {"loss": "l1"}, "seed": "L2 chosen"}], AXES, "s")
    text = format_claims(claims, {("loss", "loss=l2"): {0: 25.0, 1: 25.5, 2: 26.0},
                                  ("loss", "loss=l1"): {0: 24.0, 1: 24.6, 2: 24.9}})
    assert "| L2 beats L1 | L2 chosen | +1.00, +0.90, +1.10 | +1.00 ± 0.10 | **confirmed** |" in text
    assert "not measured yet" in format_claims(claims, {})


def test_a_study_report_carries_its_claims_under_their_table(tmp_path):
    study_path = tmp_path / "s.toml"
    study_path.write_text("""
seeds = [0, 1, 2]
time_budget = "100 images"
[base]
width = 8
depth = 2
[tables.loss]
axes = { loss = ["l2", "l1"] }
[[claims]]
table = "loss"
claim = "L2 beats L1"
better = { loss = "l2" }
worse = { loss = "l1" }
seed = "L2 chosen"
""")
    study = load_study(study_path)
    out = tmp_path / "out"
    out.mkdir()
    rows = []
    for cell, base_db in zip(study.tables[0].cells, (25.0, 24.0)):
        for cfg in cell.configs:  # fabricated results: the report's arithmetic is what is tested
            rows.append({"key": run_key(cfg), "seed": cfg.seed, "status": "ok", "psnr_db": base_db + cfg.seed / 10,
                         "psnr_noisy_db": 20.0, "ssim": 0.5, "ssim_noisy": 0.3, "steps": 1, "train_time_s": 1.0,
                         "config": cfg.to_dict(), "curve": [[1, 0.1]]})
    (out / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    tables = write_report(study, out).read_text()
    assert "| L2 beats L1 | L2 chosen | +1.00, +1.00, +1.00 | +1.00 ± 0.00 | **confirmed** |" in tables


@pytest.mark.parametrize("diffs, verdict", [
    ([0.02, -0.03, 0.01], "confirmed"),          # interval well inside ±0.2 dB
    ([-0.9, -1.0, -0.95], "refuted"),            # clearly worse than the margin allows
    ([0.5, -0.6, 0.1], "within seed-to-seed noise"),
])
def test_an_equivalence_claim_needs_the_whole_interval_inside_the_margin(diffs, verdict):
    assert paired_verdict(diffs, equal_within_db=0.2) == verdict
