"""``complaints model train|eval|predict|info|build-default``: the text classifier from the command line.

    complaints model train --data history.csv [--text-column text --label-column label] --out model.json.gz
    complaints model eval --model model.json.gz --data labelled.csv
    complaints model predict --model model.json.gz --data new.csv --out predictions.csv   # id,label,confidence
    complaints model info --model model.json.gz
    complaints model build-default        # rebuilds functions/router/models/default.json.gz

Training needs the ``train`` extra (scikit-learn, numpy); eval, predict and info need only the
runtime. Errors in the data or the model file end with exit status 2 and one clear line on stderr.
This module imports nothing heavy: ``complaints --help`` stays quick.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Callable

EXIT_OK, EXIT_ERROR = 0, 2


def _fail(command: str, message: str) -> int:
    print(f"model {command}: {message}", file=sys.stderr)
    return EXIT_ERROR


def _guarded(command: str, work: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from functions.router.classifier import ModelLoadError
        from infra.training import TrainingError

        try:
            return work(args)
        except (TrainingError, ModelLoadError) as exc:
            return _fail(command, str(exc))
        except OSError as exc:
            return _fail(command, f"{getattr(exc, 'filename', '') or ''} {exc.strerror or exc}".strip())
    return run


# -- train -----------------------------------------------------------------------------------------
def train_command(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from functions.router.features import FeatureConfig
    from infra.training import DEFAULT_SETTINGS, Progress, TrainingError, read_csv, save_model, train

    data = read_csv(args.data, args.text_column, args.label_column, args.id_column)
    if not len(data):
        raise TrainingError(f"{args.data}: no rows")
    settings = replace(DEFAULT_SETTINGS, c=args.c, max_features=args.max_features, min_df=args.min_df,
                       calibration_folds=args.calibration_folds,
                       class_weight=None if args.no_class_balance else "balanced")
    if args.max_chars:
        settings = replace(settings, features=replace(settings.features, max_chars=args.max_chars))
    if args.no_char_ngrams:
        settings = replace(settings, features=replace(settings.features, word_char_ngrams=()))
    assert isinstance(settings.features, FeatureConfig)
    name = args.name or Path(args.out).name.split(".")[0] or "model"
    document = train(data.texts, data.labels, settings, name=name, progress=Progress(enabled=not args.quiet),
                     trained_on={"file": Path(args.data).name, "text_column": args.text_column,
                                 "label_column": args.label_column})
    path = save_model(document, args.out)
    cal = document["metrics"]["calibration"]
    print(json.dumps({"model": str(path), "model_version": document["model_version"], "labels": document["labels"],
                      "features": len(document["vocabulary"].split("\n")), "bytes": path.stat().st_size,
                      "temperature": document["temperature"],
                      "out_of_fold_accuracy": cal.get("out_of_fold_accuracy"),
                      "expected_calibration_error": cal.get("expected_calibration_error")}, ensure_ascii=False))
    return EXIT_OK


# -- eval ------------------------------------------------------------------------------------------
def eval_command(args: argparse.Namespace) -> int:
    from functions.router.classifier import TextClassifier
    from infra.training import Progress, TrainingError, evaluate, format_report, read_csv

    model = TextClassifier.from_file(args.model)
    data = read_csv(args.data, args.text_column, args.label_column, args.id_column)
    rows = [(t, l) for t, l in zip(data.texts, data.labels) if l]
    if not rows:
        raise TrainingError(f"{args.data}: no labelled rows")
    result = evaluate(model, [t for t, _ in rows], [l for _, l in rows], Progress(not args.quiet, "eval"))
    unknown = sorted({l for _, l in rows} - set(model.labels))
    if unknown:
        result["labels_unknown_to_model"] = unknown
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(format_report(result), end="")
    if unknown:
        print(f"\nnote: the data holds labels the model does not know: {', '.join(unknown)}")
    return EXIT_OK


# -- predict ---------------------------------------------------------------------------------------
PREDICTION_COLUMNS = ("id", "label", "confidence")


def predict_command(args: argparse.Namespace) -> int:
    from functions.router.classifier import TextClassifier
    from infra.training import Progress, read_csv

    model = TextClassifier.from_file(args.model)
    data = read_csv(args.data, args.text_column, None, args.id_column)
    progress = Progress(not args.quiet, "predict")
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8", newline="")
    try:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(PREDICTION_COLUMNS)
        for n, (identifier, text) in enumerate(zip(data.ids, data.texts), start=1):
            result = model.classify(text)
            writer.writerow([identifier, result.label, f"{result.confidence:.4f}"])
            progress.count("classifying", n, len(data))
    finally:
        if out is not sys.stdout:
            out.close()
    if args.out != "-":
        print(f"predict: {len(data)} row(s) written to {args.out} (model {model.version})", file=sys.stderr)
    return EXIT_OK


# -- info, build-default ---------------------------------------------------------------------------
def info_command(args: argparse.Namespace) -> int:
    from functions.router.classifier import load_model

    model = load_model(args.model)
    print(json.dumps(model.describe(), indent=2, ensure_ascii=False))
    return EXIT_OK


def build_default_command(args: argparse.Namespace) -> int:
    from infra.training import DEFAULT_DATASETS, build_default, format_report

    document = build_default(args.out, args.datasets or DEFAULT_DATASETS)
    print(format_report({**document["metrics"]["holdout"], "model_version": document["model_version"]}), end="")
    return EXIT_OK


# -- argument parsing --------------------------------------------------------------------------------
def _columns(p: argparse.ArgumentParser, label: bool = True) -> None:
    p.add_argument("--text-column", default="text", help="column holding the text (default: text)")
    if label:
        p.add_argument("--label-column", default="label", help="column holding the label (default: label)")
    p.add_argument("--id-column", default="id", help="column holding the row id (default: id; absent: row number)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def add_commands(model: argparse._SubParsersAction) -> None:
    """Add train, eval, predict, info and build-default to the ``complaints model`` sub-parsers."""
    p = model.add_parser("train", help="train a classifier on a labelled CSV and write the model file",
                         description="Train the complaint-type classifier (character n-grams for Chinese, words "
                                     "and in-word n-grams for Latin script, a linear SVM, temperature-calibrated "
                                     "confidence) on a UTF-8 CSV and write a versioned .json.gz model. Needs the "
                                     "'train' extra (scikit-learn). Progress goes to stderr, a JSON summary to stdout.")
    p.add_argument("--data", required=True, metavar="FILE.csv")
    p.add_argument("--out", required=True, metavar="MODEL.json.gz")
    _columns(p)
    p.add_argument("--name", help="model name, the first part of its version (default: from --out)")
    p.add_argument("--c", type=float, default=0.5, help="SVM regularisation C (default 0.5)")
    p.add_argument("--max-features", type=int, default=50_000, help="keep this many features (default 50000)")
    p.add_argument("--min-df", type=int, default=1, help="drop features seen in fewer texts (default 1)")
    p.add_argument("--calibration-folds", type=int, default=3, help="folds for the temperature fit (0: none)")
    p.add_argument("--max-chars", type=int, help="characters of each text used (default 1000)")
    p.add_argument("--no-char-ngrams", action="store_true", help="no in-word character n-grams for Latin text")
    p.add_argument("--no-class-balance", action="store_true", help="do not weight rare labels up")
    p.set_defaults(func=_guarded("train", train_command))

    p = model.add_parser("eval", help="accuracy, macro-F1, per-class precision/recall, confusion matrix",
                         description="Classify every row of a labelled CSV and report accuracy, macro-F1, "
                                     "per-class precision/recall/F1 and the confusion matrix.")
    p.add_argument("--model", required=True, metavar="MODEL")
    p.add_argument("--data", required=True, metavar="FILE.csv")
    p.add_argument("--json", metavar="OUT.json", help="also write the figures as JSON")
    _columns(p)
    p.set_defaults(func=_guarded("eval", eval_command))

    p = model.add_parser("predict", help="classify a CSV (id,text) into id,label,confidence",
                         description="Read a CSV with columns id and text; write a CSV with exactly the columns "
                                     "id,label,confidence ('-': standard output).")
    p.add_argument("--model", required=True, metavar="MODEL")
    p.add_argument("--data", required=True, metavar="FILE.csv")
    p.add_argument("--out", required=True, metavar="PRED.csv")
    _columns(p, label=False)
    p.set_defaults(func=_guarded("predict", predict_command))

    p = model.add_parser("info", help="print a model's version, labels, size and training figures",
                         description="Load a model (a file, s3://bucket/key, or nothing for the bundled default) "
                                     "and print what it says about itself as JSON.")
    p.add_argument("--model", metavar="MODEL", help="default: the bundled model")
    p.set_defaults(func=_guarded("info", info_command))

    p = model.add_parser("build-default", help="rebuild the bundled default model from training/labels",
                         description="Join training/labels/<dataset>.csv (id,label) with the texts in "
                                     "../shared/datasets, train on all but the held-out 20%%, score the held-out "
                                     "sample and write functions/router/models/default.json.gz.")
    p.add_argument("--datasets", type=Path, help="folder of the shared datasets (default ../shared/datasets)")
    p.add_argument("--out", type=Path, help="where to write (default: the bundled model's path)")
    p.set_defaults(func=_guarded("build-default", build_default_command))


def main(argv: list[str] | None = None) -> int:
    """``python -m infra.model_cli <command> ...`` (the same as ``complaints model ...``)."""
    parser = argparse.ArgumentParser(prog="complaints model", description=__doc__.split("\n")[0])
    add_commands(parser.add_subparsers(dest="model_command", metavar="<model command>", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
