"""``complaints model train|eval|predict|info``: on a small CSV of real texts (skipped if absent)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from infra.model_cli import main

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT.parent / "shared" / "datasets" / "shopping_negative_zh" / "dev.csv"


@pytest.fixture(scope="module")
def labelled_csv(tmp_path_factory) -> Path:
    """240 real reviews of three product domains, with a BOM and custom column names."""
    if not SOURCE.is_file():
        pytest.skip(f"real texts not found at {SOURCE} (the shared datasets sit beside the repository)")
    rows, seen = [], {}
    with open(SOURCE, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["label"] in ("书籍", "酒店", "手机", "衣服") and seen.get(row["label"], 0) < 60:
                seen[row["label"]] = seen.get(row["label"], 0) + 1
                rows.append(row)
    path = tmp_path_factory.mktemp("cli") / "history.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "body", "category"])
        writer.writerows((r["id"], r["text"], r["label"]) for r in rows)
    return path


@pytest.fixture(scope="module")
def trained_model(labelled_csv, tmp_path_factory) -> Path:
    pytest.importorskip("sklearn", reason="training needs the 'train' extra")
    out = tmp_path_factory.mktemp("model") / "shop.json.gz"
    assert main(["train", "--data", str(labelled_csv), "--text-column", "body", "--label-column", "category",
                 "--id-column", "case", "--out", str(out), "--max-features", "8000", "--quiet"]) == 0
    return out


def test_train_writes_a_versioned_model_and_reports_progress(labelled_csv, tmp_path, capsys):
    pytest.importorskip("sklearn", reason="training needs the 'train' extra")
    out = tmp_path / "m.json.gz"
    assert main(["train", "--data", str(labelled_csv), "--text-column", "body", "--label-column", "category",
                 "--out", str(out), "--calibration-folds", "2"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["model_version"].startswith("m-") and sorted(summary["labels"]) == ["书籍", "手机", "衣服", "酒店"]
    assert "train: featurising" in captured.err and "temperature" in captured.err
    assert out.stat().st_size == summary["bytes"]


def test_eval_reports_accuracy_macro_f1_per_class_and_confusion(trained_model, labelled_csv, tmp_path, capsys):
    figures = tmp_path / "eval.json"
    assert main(["eval", "--model", str(trained_model), "--data", str(labelled_csv), "--text-column", "body",
                 "--label-column", "category", "--json", str(figures), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "macro-F1" in out and "precision" in out and "confusion" in out
    result = json.loads(figures.read_text(encoding="utf-8"))
    assert result["texts"] == 240 and result["accuracy"] > 0.9  # its own training data
    assert set(result["per_class"]) == {"书籍", "酒店", "手机", "衣服"}
    assert len(result["confusion"]["rows"]) == 4


def test_predict_writes_exactly_id_label_confidence(trained_model, tmp_path):
    data = tmp_path / "new.csv"
    data.write_text("id,text\nc-1,手机屏幕坏了，开不了机\nc-2,酒店前台态度差，房间很脏\nc-3,\nc-4,😡😡\n", encoding="utf-8")
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(trained_model), "--data", str(data), "--out", str(out), "--quiet"]) == 0
    with open(out, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header, *rows = list(reader)
    assert header == ["id", "label", "confidence"]
    assert [r[0] for r in rows] == ["c-1", "c-2", "c-3", "c-4"]
    assert rows[0][1] == "手机" and rows[1][1] == "酒店"
    assert all(0 < float(r[2]) <= 1 for r in rows)


def test_predict_to_stdout(trained_model, tmp_path, capsys):
    data = tmp_path / "one.csv"
    data.write_text("id,text\nx,这本书内容很空洞\n", encoding="utf-8")
    assert main(["predict", "--model", str(trained_model), "--data", str(data), "--out", "-", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "id,label,confidence" and lines[1].startswith("x,书籍,")


def test_errors_exit_2_with_one_clear_line(trained_model, labelled_csv, tmp_path, capsys):
    assert main(["eval", "--model", str(tmp_path / "missing.json.gz"), "--data", str(labelled_csv)]) == 2
    assert "cannot read model file" in capsys.readouterr().err
    assert main(["predict", "--model", str(trained_model), "--data", str(labelled_csv), "--out", "-"]) == 2
    assert "no column text" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.json.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08junk")
    assert main(["info", "--model", str(corrupt)]) == 2
    assert "damaged gzip" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "m.json.gz")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_info_and_the_complaints_command_wiring(trained_model, capsys):
    from infra.cli import main as complaints

    assert complaints(["model", "info", "--model", str(trained_model)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model_version"].startswith("shop-") and info["features"] <= 8000
    assert complaints(["model", "info"]) == 0
    assert json.loads(capsys.readouterr().out)["model_version"].startswith("default-")
