"""A study's claims: "setting A beats setting B", judged by a paired comparison over seeds.

A study file may list the claims of the report it replicates::

    [[claims]]
    table = "init"                               # the table whose cells are compared
    claim = "Xavier initialisation beats Kaiming"
    better = { init = "xavier_normal" }          # the cell the claim says is better ...
    worse = { init = "kaiming_normal" }          # ... than this one
    seed = "Xavier chosen (best run 25.44 dB)"   # what the original report said or measured
    # equal_within_db = 0.2                      # instead: "as good as", within this margin

Each seed trains both settings on the same data stream, so the per-seed differences
(better - worse, dB) are paired; a two-sided paired t-test at the 5% level gives the verdict:
confirmed, refuted, or within seed-to-seed noise. An equivalence claim (``equal_within_db``) is
confirmed when the 95% confidence interval of the mean difference lies inside ±margin, and
refuted when it lies wholly outside.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from noise2noise.errors import N2NError

_KEYS = {"table", "claim", "better", "worse", "seed", "equal_within_db"}
# two-sided 5% critical values of Student's t, by degrees of freedom (1..10); beyond, ~1.96-2.2
_T_CRIT = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


@dataclass(frozen=True)
class Claim:
    table: str
    claim: str
    better: dict[str, Any]
    worse: dict[str, Any]
    seed: str
    equal_within_db: float | None = None  # an equivalence claim: |better - worse| below this


def load_claims(spec: Any, table_axes: dict[str, dict[str, list[Any]]], where: str) -> list[Claim]:
    """Validate the ``[[claims]]`` of a study file against its tables' axes."""
    if spec is None:
        return []
    if not isinstance(spec, list) or not all(isinstance(c, dict) for c in spec):
        raise N2NError(f"{where}: claims must be a list of [[claims]] tables")
    claims = []
    for i, item in enumerate(spec):
        here = f"{where} [[claims]] #{i + 1}"
        unknown = sorted(set(item) - _KEYS)
        missing = sorted({"table", "claim", "better", "worse"} - set(item))
        if unknown or missing:
            raise N2NError(f"{here}: {'unknown key ' + repr(unknown[0]) if unknown else 'missing ' + missing[0]}; "
                           f"keys: {', '.join(sorted(_KEYS))}")
        axes = table_axes.get(item["table"]) if isinstance(item["table"], str) else None
        if axes is None:
            raise N2NError(f"{here}: no table {item['table']!r}; tables: {', '.join(table_axes)}")
        for side in ("better", "worse"):
            check_setting(item[side], axes, f"{here}: {side}")
        if item["better"] == item["worse"]:
            raise N2NError(f"{here}: better and worse name the same cell {item['better']!r}; a claim compares two")
        margin = item.get("equal_within_db")
        if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float))
                                   or not 0 < margin < math.inf):
            raise N2NError(f"{here}: equal_within_db = {margin!r} must be a positive number of dB")
        claims.append(Claim(item["table"], str(item["claim"]), item["better"], item["worse"],
                            str(item.get("seed", "")), None if margin is None else float(margin)))
    return claims


def check_setting(setting: Any, axes: dict[str, list[Any]], where: str) -> None:
    """A setting named in a study file (a claim's side, a figure's curve) is one cell of its table."""
    # as the tables label it: 8.0 or true would pass `in` beside an axis of 8 or 1, then match no cell
    if not isinstance(setting, dict) or set(setting) != set(axes) or \
            any(f"{v}" not in {f"{a}" for a in axes[k]} for k, v in setting.items()):
        raise N2NError(f"{where} = {setting!r} must give a value of each of the table's axes "
                       f"({', '.join(f'{k} in {v}' for k, v in axes.items())})")


def paired_verdict(differences: list[float], equal_within_db: float | None = None) -> str:
    """'confirmed' / 'refuted' when the mean paired difference is significantly above / below
    zero (two-sided paired t-test, 5%), else 'within seed-to-seed noise'. With a margin, the
    claim is "equal within ±margin": confirmed when the 95% interval of the mean lies inside it,
    refuted when it lies wholly outside."""
    n = len(differences)
    if n < 2:
        return "too few seeds to judge"
    mean, sd = statistics.fmean(differences), statistics.stdev(differences)
    if equal_within_db is not None:
        half = _T_CRIT.get(n - 1, 2.0) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
        if -equal_within_db <= low and high <= equal_within_db:
            return "confirmed"
        if high < -equal_within_db or low > equal_within_db:
            return "refuted"
        return "within seed-to-seed noise"
    if sd == 0:
        return "confirmed" if mean > 0 else "refuted" if mean < 0 else "within seed-to-seed noise"
    t = mean / (sd / math.sqrt(n))
    critical = _T_CRIT.get(n - 1, 2.0)
    if t > critical:
        return "confirmed"
    if t < -critical:
        return "refuted"
    return "within seed-to-seed noise"


def format_claims(claims: list[Claim], psnr_by_seed: dict[tuple[str, str], dict[int, float]]) -> str:
    """A markdown table of the claims: the seed's words, our per-seed paired differences,
    their mean ± std and the verdict. ``psnr_by_seed[(table, setting label)]`` maps seed -> dB."""
    lines = ["| claim | seed report | ours: better − worse per seed (dB) | mean ± std | verdict |",
             "|---|---|---|---|---|"]
    for claim in claims:
        better = psnr_by_seed.get((claim.table, setting_label(claim.better)), {})
        worse = psnr_by_seed.get((claim.table, setting_label(claim.worse)), {})
        seeds = sorted(set(better) & set(worse))
        diffs = [better[s] - worse[s] for s in seeds]
        if not diffs:
            lines.append(f"| {claim.claim} | {claim.seed} | not measured yet | – | – |")
            continue
        per_seed = ", ".join(f"{d:+.2f}" for d in diffs)
        spread = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
        lines.append(f"| {claim.claim} | {claim.seed} | {per_seed} | {statistics.fmean(diffs):+.2f} ± {spread:.2f} "
                     f"| **{paired_verdict(diffs, claim.equal_within_db)}** |")
    return "\n".join(lines)


def setting_label(setting: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(setting.items()))
