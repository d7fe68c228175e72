"""What the benchmark scripts share, so that they keep the promise of docs/reliability.md: a
bad argument is one line and exit status 2, and an earlier result is not replaced unasked."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from noise2noise.cli import OneLineParser, int_at_least
from noise2noise.errors import N2NError, first_line
from noise2noise.outputs import check_out_folder, check_outputs

COUNT = int_at_least(1, "a whole number >= 1")


def parser(doc: str) -> argparse.ArgumentParser:
    """A script's parser: its docstring's first paragraph (whole) as the description."""
    return OneLineParser(description=" ".join(doc.split("\n\n")[0].split()))


def numbers(low: float = 0.0, words: str = "numbers >= 0") -> Callable[[str], list[float]]:
    """An argparse type: a comma list of finite numbers >= ``low`` (noise levels, margins)."""
    def parse(text: str) -> list[float]:
        try:
            values = [float(item) for item in text.split(",")]
        except ValueError:
            values = []
        if not values or not all(math.isfinite(v) and v >= low for v in values) or len(set(values)) < len(values):
            raise argparse.ArgumentTypeError(f"expected a comma list of {words}, each once, got {text!r}")
        return values
    return parse


def number(low: float = 0.0) -> Callable[[str], float]:
    """An argparse type: one finite number >= ``low``."""
    many = numbers(low, f"numbers >= {low:g}")

    def parse(text: str) -> float:
        if "," in text:
            raise argparse.ArgumentTypeError(f"expected one number >= {low:g}, got {text!r}")
        try:
            return many(text)[0]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"expected a number >= {low:g}, got {text!r}") from None
    return parse


def counts(text: str) -> list[int]:
    """An argparse type: a comma list of whole numbers >= 1 (batch sizes, --jobs values)."""
    try:
        return [COUNT(item) for item in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a comma list of whole numbers >= 1, got {text!r}") from None


def names(options: Iterable[str]) -> Callable[[str], list[str]]:
    """An argparse type: a comma list of names from ``options``, each once."""
    options = tuple(options)

    def parse(text: str) -> list[str]:
        chosen = [item.strip() for item in text.split(",")]
        if not all(item in options for item in chosen) or len(set(chosen)) < len(chosen):
            raise argparse.ArgumentTypeError(f"expected a comma list of {', '.join(options)}, each once, "
                                             f"got {text!r}")
        return chosen
    return parse


def check_out_file(path: Path | None, overwrite: bool, suffixes: Iterable[str]) -> None:
    """An output file a benchmark writes when it ends: checked before its work, so that hours
    of measuring do not end in a traceback, nor replace an earlier result without --overwrite."""
    if path is not None:
        check_outputs([path], overwrite=overwrite, suffixes=suffixes, option="--out")


def check_out_dir(path: Path, overwrite: bool) -> None:
    """An output folder, as ``check_out_file``: one that holds anything is an earlier result."""
    check_out_folder(path)
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise N2NError(f"{path}: holds an earlier result; pass --overwrite to replace it, or choose another --out")


def run(main: Callable[[], object]) -> None:
    """Run a script's ``main``: an ``N2NError`` is its one line on stderr and exit status 2."""
    try:
        main()
    except N2NError as exc:
        print(f"error: {first_line(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:  # Ctrl-C as the n2n commands end it: a line, not a traceback
        print("\ninterrupted", file=sys.stderr)
        raise SystemExit(130) from None
