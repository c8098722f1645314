"""Tests of host.studies.report: the figures and report.md of a noise study."""

import csv

import pytest

from golden.train import RunError
from host.studies import noise, report
from host.studies.runner import Runner

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two widths, two N, two seeds, two epochs on the bundled subset."""
    out = tmp_path_factory.mktemp("report") / "study"
    narrow = out.parent / "drn-xs-w200.toml"
    narrow.write_text('model = "drn-xs"\nhidden = [200]\n')
    study = noise.Study(epochs=2, train_samples=1000, test_samples=300)
    points = noise.grid(study, ["drn-xs", str(narrow)], ["mnist-subset"], [1e-3, 1e-2, 1e-1], [1, 4], [0, 1])
    _, errors = noise.sweep(study, points, out, Runner(serial=True), refine=1, log=lambda _: None)
    assert errors == []
    return out


def test_report_writes_every_figure_and_the_markdown(study):
    files = report.report(study)
    assert [f.name for f in files] == [report.FIGURES[k] for k in ("accuracy", "curves", "sqrt", "models")] + ["report.md"]
    for f in files[:-1]:
        assert f.read_bytes()[:8] == PNG
    text = (study / "report.md").read_text()
    for figure in files[:-1]:
        assert f"![{figure.name}]({figure.name})" in text
    with open(study / "critical.csv") as f:
        estimates = list(csv.DictReader(f))
    assert len(estimates) == 4  # two models x two N
    for e in estimates:  # every estimate of the table is in the report, with its model's hidden layers
        hidden = "100" if e["model"] == "drn-xs" else "200"
        assert f"| {e['model']} | {hidden} | mnist-subset | {e['samples']} | {float(e['sigma_c']):.3g} |" in text
    assert "## sqrt(N) law" in text and "| drn-xs | mnist-subset | 1, 4 |" in text
    assert "## Accuracy with noise below sigma_c" in text


def test_a_stricter_threshold_lowers_sigma_c(study):
    loose = {(e["model"], e["samples"]): e["sigma_c"] for e in noise.tables(study, keep=0.5)["critical"]}
    strict = {(e["model"], e["samples"]): e["sigma_c"] for e in noise.tables(study, keep=0.95)["critical"]}
    assert all(strict[k] is None or loose[k] is None or strict[k] < loose[k] for k in loose)
    assert any(strict[k] and loose[k] for k in loose)


def test_an_empty_study_has_no_report(tmp_path):
    noise.open_study(tmp_path / "empty", noise.Study())
    with pytest.raises(RunError, match="holds no finished point yet"):
        report.report(tmp_path / "empty")
