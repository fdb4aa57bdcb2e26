import math

import numpy as np
import pytest
from matplotlib.image import imread

from satode._report import markdown_table, MISSING, spectrum_figure, write_report


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EXPECTED_SHAPE = (840, 1200)  # 7 x 10 in at 120 dpi


def _rows(n=12, dim=2, layers=1, circle=True, failed=(5,)):
    rows = []
    levels = np.geomspace(0.5, 200.0, n)
    for j, level in enumerate(levels):
        c_emp = 3.0 / level
        period = 2 * math.pi / c_emp * 1.5
        row = {"level": float(level), "status": "ok", "period": period, "closure": 1e-10}
        exps = np.concatenate([[1e-11], -np.linspace(0.1, 0.5, dim - 1) * c_emp])
        for i, lam in enumerate(sorted(exps, reverse=True), start=1):
            row[f"exponent_{i}"] = float(lam)
            row[f"multiplier_abs_{i}"] = float(math.exp(lam * period))
        row["trivial_multiplier_error"] = 1e-10
        row["liouville_residual"] = 1e-12
        for k in range(1, layers + 1):
            row[f"delta_{k}"] = float(1.0 / (1.0 + level) ** k)
            row[f"zero_crossing_{k}"] = bool(j < 2)
        row.update(
            c_w=50.0,
            c_theory=50.0 / (1.0 + level),
            c_empirical=c_emp,
            c_refined=1.5 * c_emp,
            rotation_ratio=c_emp * period / (2 * math.pi),
            contained=True,
        )
        if circle:
            row.update(
                circle_multiplier_abs_1=1.0 + 0.1 / level,
                circle_multiplier_abs_2=0.9,
                circle_exponent_1=0.02 / level,
                circle_exponent_2=-0.05 / level,
                circle_c_theory=row["c_theory"],
                circle_c_empirical=0.8 * c_emp,
                circle_c_refined=1.2 * c_emp,
            )
            for k in range(1, layers + 1):
                row[f"circle_delta_{k}"] = row[f"delta_{k}"]
        rows.append(row)
    if n > 2:
        rows[1]["c_refined"] = float("nan")
        rows[2]["rotation_ratio"] = float("nan")
    for j in failed:
        for key in list(rows[j]):
            if key.startswith(("period", "exponent_", "multiplier_abs_", "c_emp", "rotation")):
                rows[j][key] = float("nan")
        rows[j]["status"] = "no_orbit"
        rows[j]["contained"] = False
    return rows


def _table_lines(table):
    return [line for line in table.splitlines() if line.startswith("|")]


def _check_png(path):
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == PNG_MAGIC
    assert imread(path).shape[:2] == EXPECTED_SHAPE


def test_table_2d_with_circle():
    rows = _rows()
    table = markdown_table(rows, parameter="gain")
    lines = _table_lines(table)
    header = lines[0]
    for name in ["gain", "status", "T", "λ1", "λ2", "δ1", "C_theory", "C_emp", "C̃", "rot"]:
        assert f" {name} " in header
    assert "order" in header and r"\|μ1\|∘" in header and r"\|μ2\|∘" in header
    assert "C_emp∘" in header and "λ3" not in header and "δ2" not in header
    assert len(lines) == 2 + len(rows)
    n_cols = header.count(" | ") + 1
    assert all(line.count(" | ") + 1 == n_cols for line in lines[2:])
    assert lines[2].startswith(f"| {rows[0]['level']:.4g} |")
    assert lines[-1].startswith(f"| {rows[-1]['level']:.4g} |")
    assert "no_orbit" in lines[2 + 5] and MISSING in lines[2 + 5]
    assert MISSING in lines[2 + 1]  # NaN C̃
    assert "nan" not in table.lower()
    assert "✓" in table and "✗" in table and "†" in lines[2] and "∘ =" in table


def test_table_without_circle_and_max_rows():
    rows = _rows(circle=False)
    table = markdown_table(rows, parameter="shift", max_rows=5)
    lines = _table_lines(table)
    assert " shift " in lines[0] and "∘" not in lines[0] and "∘ =" not in table
    assert len(lines) == 2 + 5
    assert lines[2].startswith(f"| {rows[0]['level']:.4g} |")
    assert lines[-1].startswith(f"| {rows[-1]['level']:.4g} |")
    assert len(_table_lines(markdown_table(rows, max_rows=100))) == 2 + len(rows)


def test_table_3d_two_layers_and_missing_audit():
    rows = _rows(n=6, dim=3, layers=2)
    header = _table_lines(markdown_table(rows))[0]
    for name in ["λ1", "λ2", "λ3", "δ1", "δ2"]:
        assert f" {name} " in header
    bare = [{"level": 1.0, "status": "ok", "period": 6.3, "exponent_1": 0.0, "exponent_2": -0.2}]
    lines = _table_lines(markdown_table(bare))
    assert "C_theory" not in lines[0] and "δ1" not in lines[0]
    assert lines[2] == "| 1 | ok | 6.3 | 0 | -0.2 |"


@pytest.mark.parametrize(
    "rows",
    [
        _rows(n=6, dim=3, layers=2, failed=(0, 5)),
        _rows(n=1, failed=()),
        _rows(n=1, failed=(0,)),
        _rows(n=4, failed=range(4)),
        _rows(n=3, failed=range(3), circle=False),
    ],
    ids=["3d", "single", "single-failed", "all-failed", "all-failed-bare"],
)
def test_spectrum_figure(rows, tmp_path):
    path = tmp_path / "spectrum.png"
    spectrum_figure(rows, path, title="synthetic")
    _check_png(path)


def test_figure_linear_x_and_all_nan_columns(tmp_path):
    rows = _rows(n=5, circle=False, failed=(2,))
    for j, row in enumerate(rows):
        row["level"] = 1.0 + j  # max/min = 5 -> linear axis
        for key in row:
            if key.startswith(("c_", "rotation", "period", "delta")):
                row[key] = float("nan")
    spectrum_figure(rows, tmp_path / "a.png", parameter="shift")
    _check_png(tmp_path / "a.png")
    spectrum_figure([], tmp_path / "empty.png")
    _check_png(tmp_path / "empty.png")


def test_write_report(tmp_path):
    rows = _rows()
    out = tmp_path / "report"
    write_report(rows, out, parameter="gain", title="Synthetic sweep")
    text = (out / "table.md").read_text(encoding="utf-8")
    assert text.startswith("# Synthetic sweep\n")
    assert len(_table_lines(text)) == 2 + len(rows)
    assert "`ok`: 11" in text and "`no_orbit`: 1" in text
    _check_png(out / "spectrum.png")
