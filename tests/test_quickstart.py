"""examples/quickstart.ipynb runs, on tiny settings, without Jupyter: its code cells are
executed in order in one namespace, as a kernel would."""

import json
from pathlib import Path

import matplotlib
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def test_the_notebook_is_stored_without_outputs():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)


@pytest.mark.filterwarnings("ignore:FigureCanvasAgg is non-interactive")
def test_the_quickstart_notebook_trains_plots_and_denoises(tmp_path, monkeypatch):
    matplotlib.use("Agg")  # no display; plt.show() does nothing
    monkeypatch.setenv("N2N_QUICKSTART_TINY", "1")
    monkeypatch.setenv("N2N_QUICKSTART_OUT", str(tmp_path / "quickstart"))
    namespace: dict = {}
    for i, cell in enumerate(json.loads(NOTEBOOK.read_text())["cells"]):
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{NOTEBOOK.name} cell {i}", "exec"), namespace)
    assert namespace["TINY"] and namespace["result"].steps > 0
    assert namespace["train"] and namespace["val"]  # the curves had points to plot
    for name in ("ours (1 minute)", "shipped gaussian"):
        assert namespace["images"][name].shape == namespace["noisy"].shape
    assert (tmp_path / "quickstart" / "metrics.jsonl").is_file()
    namespace["plt"].close("all")
