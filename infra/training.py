"""Training the complaint-type classifier, evaluating it, and rebuilding the bundled default model.

Training (needs the ``train`` extra: scikit-learn and numpy; never imported by the runtime):

1. every text becomes features with :func:`functions.router.features.extract`, the very code the
   runtime uses; features seen in fewer than ``min_df`` texts are dropped;
2. TF-IDF (sublinear tf, smoothed idf, L2 norm) and a one-vs-rest linear SVM (scikit-learn's
   ``LinearSVC``, squared hinge, ``C`` and balanced class weights so rare types are not drowned);
3. the vocabulary is pruned to the ``max_features`` features with the largest weight norm across
   labels and the SVM is fitted again on them (a small file that loads fast);
4. a temperature ``T`` is fitted on out-of-fold scores (``calibration_folds``-fold) by minimising
   the log-loss of ``softmax(score / T)``: the confidence the runtime reports is calibrated;
5. everything goes into one versioned JSON document (see :mod:`functions.router.classifier`).

Evaluation (:func:`evaluate`, :func:`metrics`) is pure Python and needs only the runtime.

``python -m infra.training build-default`` (or ``complaints model build-default``)
rebuilds ``functions/router/models/default.json.gz`` from the label files in ``training/labels/``
joined with the texts in ``../shared/datasets`` (see ``training/README.md``): deterministic for
the same labels, texts and library versions.
"""
from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import math
import sys
import time
import warnings
from array import array
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from functions.router.classifier import FORMAT, FORMAT_VERSION, TextClassifier, checksum
from functions.router.features import FeatureConfig, extract

ROOT = Path(__file__).resolve().parents[1]
LABELS_DIR = ROOT / "training" / "labels"
DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets"
DEFAULT_LABELS = ("product_quality", "food_safety", "delivery_logistics", "service_attitude", "billing_price",
                  "refund_after_sales", "privacy_security", "other")
# which text file each label file joins with (the texts stay outside the repository)
DEFAULT_SOURCES = {
    "food_delivery_reviews_zh": "reviews.csv",
    "shopping_negative_zh": "dev.csv",
    "cfpb_products_en": "dev.csv",
    "support_tickets_en": "dev.csv",
}
HOLDOUT_PERCENT = 20
csv.field_size_limit(10 * 1024 * 1024)


class TrainingError(Exception):
    """The training data or settings cannot give a model (message says why)."""


@dataclass(frozen=True)
class TrainSettings:
    c: float = 0.5
    class_weight: str | None = "balanced"
    max_features: int = 50_000
    min_df: int = 1
    calibration_folds: int = 3
    seed: int = 42
    features: FeatureConfig = field(default_factory=FeatureConfig)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["features"] = self.features.to_json()
        return data


class Progress:
    """Progress lines on stderr for long runs ("train: featurising 6000/18621, 3.1 s")."""

    def __init__(self, enabled: bool = True, prefix: str = "train", stream: Any = None, every_seconds: float = 2.0):
        self.enabled, self.prefix, self.every = enabled, prefix, every_seconds
        self.stream = stream or sys.stderr
        self.start = self.last = time.monotonic()

    def step(self, message: str) -> None:
        if self.enabled:
            print(f"{self.prefix}: {message} ({time.monotonic() - self.start:.1f} s)", file=self.stream, flush=True)

    def count(self, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if self.enabled and (done == total or now - self.last >= self.every):
            self.last = now
            self.step(f"{what} {done}/{total}")


def _quiet() -> Progress:
    return Progress(enabled=False)


# -- data ------------------------------------------------------------------------------------------
@dataclass
class LabelledData:
    ids: list[str]
    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def read_csv(path: str | Path, text_column: str = "text", label_column: str | None = "label",
             id_column: str = "id") -> LabelledData:
    """Rows of a UTF-8 CSV (BOM tolerated). Without ``label_column`` labels are empty strings."""
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise TrainingError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        needed = [c for c in (text_column, label_column) if c]
        absent = [c for c in needed if c not in columns]
        if absent:
            raise TrainingError(f"{path}: no column {', '.join(absent)} (columns: {', '.join(columns) or 'none'})")
        data = LabelledData([], [], [])
        for n, row in enumerate(reader, start=1):
            data.ids.append(row.get(id_column) or str(n))
            data.texts.append(row.get(text_column) or "")
            data.labels.append((row.get(label_column) or "").strip() if label_column else "")
    return data


# -- training --------------------------------------------------------------------------------------
def _need_training_libraries() -> tuple[Any, Any, Any]:
    try:
        import numpy as np
        from scipy import sparse
        from sklearn.svm import LinearSVC
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise TrainingError(f"training needs scikit-learn and numpy ({exc.name} is missing): "
                            "pip install -e '.[train]'") from None
    return np, sparse, LinearSVC


class _Matrix:
    """Feature dicts -> TF-IDF CSR matrices over a fixed vocabulary (the runtime's arithmetic)."""

    def __init__(self, feats: Sequence[dict[str, int]], vocabulary: list[str], np: Any, sparse: Any):
        self.np, self.sparse = np, sparse
        self.vocabulary = vocabulary
        self.index = {name: i for i, name in enumerate(vocabulary)}
        df = np.zeros(len(vocabulary))
        for f in feats:
            for name in f:
                i = self.index.get(name)
                if i is not None:
                    df[i] += 1
        n = len(feats)
        self.idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)

    def transform(self, feats: Sequence[dict[str, int]]) -> Any:
        np, sparse = self.np, self.sparse
        indptr, indices, values = [0], [], []
        index = self.index
        for f in feats:
            for name, count in f.items():
                i = index.get(name)
                if i is not None:
                    indices.append(i)
                    values.append(1.0 + math.log(count))
            indptr.append(len(indices))
        x = sparse.csr_matrix((np.asarray(values, dtype=np.float64), np.asarray(indices, dtype=np.int64),
                               np.asarray(indptr, dtype=np.int64)), shape=(len(feats), len(self.vocabulary)))
        x = x.multiply(self.idf.astype(np.float64)).tocsr()
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sparse.diags(1.0 / norms) @ x


def _vocabulary(feats: Sequence[dict[str, int]], min_df: int) -> list[str]:
    df: Counter[str] = Counter()
    for f in feats:
        df.update(f.keys())
    # sorted: the same data gives the same file, whatever the dict order
    return sorted(name for name, n in df.items() if n >= min_df)


def _fit_svm(x: Any, y: Any, classes: list[str], settings: TrainSettings, np: Any, LinearSVC: Any) -> tuple[Any, Any]:
    """(weights K x F, bias K) of a one-vs-rest linear SVM; two labels become +-half the margin."""
    svm = LinearSVC(C=settings.c, class_weight=settings.class_weight, random_state=settings.seed, max_iter=5000)
    svm.fit(x, y)
    order = [list(svm.classes_).index(c) if c in svm.classes_ else None for c in classes]
    coef, intercept = np.asarray(svm.coef_, dtype=np.float64), np.asarray(svm.intercept_, dtype=np.float64)
    if len(svm.classes_) == 2:
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    weights = np.zeros((len(classes), x.shape[1]))
    bias = np.full(len(classes), -1e3)  # a label absent from this fit can never win
    for k, j in enumerate(order):
        if j is not None:
            weights[k], bias[k] = coef[j], intercept[j]
    return weights, bias


def fit_temperature(scores: Any, truth: Any, np: Any) -> float:
    """T minimising the mean negative log-likelihood of softmax(scores / T) (golden-section on log T)."""
    def nll(log_t: float) -> float:
        z = scores / math.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(truth)), truth].mean())

    lo, hi = math.log(0.01), math.log(100.0)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return round(math.exp((lo + hi) / 2), 6)


def _calibration_report(scores: Any, truth: Any, temperature: float, np: Any, bins: int = 10) -> dict[str, Any]:
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    conf, pred = p.max(axis=1), p.argmax(axis=1)
    correct = pred == truth
    ece = 0.0
    for lo in np.linspace(0, 1, bins, endpoint=False):
        mask = (conf > lo) & (conf <= lo + 1.0 / bins)
        if mask.any():
            ece += mask.mean() * abs(conf[mask].mean() - correct[mask].mean())
    nll = -np.log(np.maximum(p[np.arange(len(truth)), truth], 1e-12)).mean()
    return {"temperature": temperature, "out_of_fold_accuracy": round(float(correct.mean()), 4),
            "expected_calibration_error": round(float(ece), 4), "log_loss": round(float(nll), 4)}


def train(texts: Sequence[str], labels: Sequence[str], settings: TrainSettings | None = None, *,
          name: str = "model", trained_on: dict[str, Any] | None = None, label_order: Sequence[str] | None = None,
          progress: Progress | None = None, fallback_label: str | None = "other") -> dict[str, Any]:
    """A model document (see :mod:`functions.router.classifier`) trained on the texts and labels."""
    np, sparse, LinearSVC = _need_training_libraries()
    settings = settings or TrainSettings()
    progress = progress or _quiet()
    if len(texts) != len(labels):
        raise TrainingError(f"{len(texts)} texts but {len(labels)} labels")
    pairs = [(t, l) for t, l in zip(texts, labels) if l]
    if len(pairs) < len(texts):
        progress.step(f"{len(texts) - len(pairs)} row(s) without a label skipped")
    counts = Counter(l for _, l in pairs)
    if len(counts) < 2:
        raise TrainingError(f"training needs at least two labels with examples, found {len(counts)}")
    classes = list(label_order) if label_order else sorted(counts)
    unknown = set(counts) - set(classes)
    if unknown:
        raise TrainingError(f"labels not in the label list: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    progress.step(f"{len(pairs)} texts, {len(classes)} labels")

    feats: list[dict[str, int]] = []
    for n, (text, _) in enumerate(pairs, start=1):
        feats.append(extract(text, settings.features))
        progress.count("featurising", n, len(pairs))
    y = np.array([classes.index(l) for _, l in pairs])

    vocabulary = _vocabulary(feats, settings.min_df)
    if not vocabulary:
        raise TrainingError("the texts hold no features (all empty?)")
    matrix = _Matrix(feats, vocabulary, np, sparse)
    x = matrix.transform(feats)
    progress.step(f"fitting the SVM on {x.shape[1]} features")
    weights, bias = _fit_svm(x, y, list(range(len(classes))), settings, np, LinearSVC)

    if len(vocabulary) > settings.max_features:
        norms = np.sqrt((weights ** 2).sum(axis=0))
        keep = np.sort(np.argsort(-norms, kind="stable")[:settings.max_features])
        vocabulary = [vocabulary[i] for i in keep]
        matrix = _Matrix(feats, vocabulary, np, sparse)
        x = matrix.transform(feats)
        progress.step(f"pruned to {len(vocabulary)} features, fitting again")
        weights, bias = _fit_svm(x, y, list(range(len(classes))), settings, np, LinearSVC)

    calibration: dict[str, Any] = {"temperature": 1.0, "note": "not calibrated"}
    temperature = 1.0
    folds = settings.calibration_folds
    if folds >= 2 and len(y) >= 5 * folds:  # a label rarer than the folds just misses some folds
        from sklearn.model_selection import StratifiedKFold

        oof = np.zeros((len(y), len(classes)))
        splitter = StratifiedKFold(folds, shuffle=True, random_state=settings.seed)
        with warnings.catch_warnings():  # "the least populated class has only n members": expected, harmless
            warnings.simplefilter("ignore", UserWarning)
            splits = list(splitter.split(np.zeros(len(y)), y))
        for k, (tr, te) in enumerate(splits, start=1):
            progress.step(f"calibration fold {k}/{folds}")
            w, b = _fit_svm(x[tr], y[tr], list(range(len(classes))), settings, np, LinearSVC)
            oof[te] = x[te] @ w.T + b
        temperature = fit_temperature(oof, y, np)
        calibration = _calibration_report(oof, y, temperature, np)
        calibration["before"] = _calibration_report(oof, y, 1.0, np)["expected_calibration_error"]
        progress.step(f"temperature {temperature:.3f} (out-of-fold ECE {calibration['expected_calibration_error']})")

    document = export(classes, vocabulary, matrix.idf, weights, bias, temperature, settings, name=name,
                      trained_on={"texts": len(pairs), "label_counts": dict(sorted(counts.items())), **(trained_on or {})},
                      calibration=calibration,
                      fallback_label=fallback_label if fallback_label in classes else None)
    progress.step(f"model {document['model_version']} ready, {len(vocabulary)} features, "
                  f"{time.monotonic() - started:.1f} s")
    return document


def _b64(values: array) -> str:
    if sys.byteorder == "big":  # pragma: no cover
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def quantize(weights: Any, np: Any) -> tuple[array, list[float]]:
    """Weights (K x F) as int16, label-major, with one scale per label: w = scale * q (error < scale / 2)."""
    scales = []
    rows = []
    for row in np.asarray(weights, dtype=np.float64):
        top = float(np.abs(row).max()) if row.size else 0.0
        scale = top / 32767.0 if top > 0 else 1.0
        scales.append(float(f"{scale:.9g}"))
        rows.append(np.clip(np.rint(row / scales[-1]), -32767, 32767).astype("<i2"))
    flat = array("h")
    for q in rows:
        flat.frombytes(q.tobytes())
    if sys.byteorder == "big":  # pragma: no cover - frombytes read little-endian bytes as native
        flat.byteswap()
    return flat, scales


def export(labels: Sequence[str], vocabulary: Sequence[str], idf: Any, weights: Any, bias: Any, temperature: float,
           settings: TrainSettings, *, name: str, trained_on: dict[str, Any], calibration: dict[str, Any],
           fallback_label: str | None) -> dict[str, Any]:
    import numpy as np

    if any("\n" in v for v in vocabulary):
        raise TrainingError("a feature name holds a newline")  # features.py never makes one
    vocab_text = "\n".join(vocabulary)
    idf_text = _b64(array("f", (float(v) for v in idf)))
    flat, scales = quantize(weights, np)
    weights_text = _b64(flat)
    bias_list = [round(float(b), 6) for b in bias]
    digest = checksum(vocab_text, idf_text, weights_text, [*bias_list, *scales])
    created = datetime.now(timezone.utc)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_version": f"{name}-{created:%Y%m%d}-{digest[:8]}",
        "created_at": created.isoformat(timespec="seconds"),
        "labels": list(labels),
        "fallback_label": fallback_label,
        "features": settings.features.to_json(),
        "training": {k: v for k, v in settings.to_json().items() if k != "features"},
        "trained_on": trained_on,
        "metrics": {"calibration": calibration},
        "temperature": temperature,
        "bias": bias_list,
        "weight_scale": scales,
        "checksum": digest,
        "vocabulary": vocab_text,
        "idf": idf_text,
        "weights": weights_text,
    }


def model_bytes(document: dict[str, Any]) -> bytes:
    raw = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return gzip.compress(raw, compresslevel=9, mtime=0)


def save_model(document: dict[str, Any], path: str | Path) -> Path:
    """Write the model atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(model_bytes(document))
    tmp.replace(path)
    return path


# -- evaluation (pure Python) ----------------------------------------------------------------------
def metrics(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Accuracy, macro-F1 (over the labels seen in truth or predictions), per-class P/R/F1, confusion."""
    if len(truth) != len(predicted):
        raise ValueError("truth and predictions differ in length")
    seen = set(truth) | set(predicted)
    order = [l for l in labels or () if l in seen] + sorted(seen - set(labels or ()))
    confusion = {t: {p: 0 for p in order} for t in order}
    for t, p in zip(truth, predicted):
        confusion[t][p] += 1
    per_class: dict[str, dict[str, float]] = {}
    for label in order:
        tp = confusion[label][label]
        predicted_n = sum(confusion[t][label] for t in order)
        support = sum(confusion[label].values())
        precision = tp / predicted_n if predicted_n else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                            "support": support}
    n = len(truth)
    accuracy = sum(t == p for t, p in zip(truth, predicted)) / n if n else 0.0
    macro = sum(c["f1"] for c in per_class.values()) / len(per_class) if per_class else 0.0
    return {"texts": n, "accuracy": round(accuracy, 4), "macro_f1": round(macro, 4), "per_class": per_class,
            "confusion": {"labels": order, "rows": [[confusion[t][p] for p in order] for t in order]}}


def evaluate(classifier: TextClassifier, texts: Sequence[str], labels: Sequence[str],
             progress: Progress | None = None) -> dict[str, Any]:
    progress = progress or _quiet()
    predicted = []
    for n, text in enumerate(texts, start=1):
        predicted.append(classifier.classify(text).label)
        progress.count("classifying", n, len(texts))
    result = metrics(labels, predicted, classifier.labels)
    result["model_version"] = classifier.version
    return result


def format_report(result: dict[str, Any]) -> str:
    """The evaluation as text: headline figures, per-class table, confusion matrix."""
    out = io.StringIO()
    out.write(f"model {result.get('model_version', '?')}: {result['texts']} texts, accuracy {result['accuracy']:.4f}, "
              f"macro-F1 {result['macro_f1']:.4f}\n\n")
    width = max([len(l) for l in result["per_class"]] + [5])
    out.write(f"{'label':<{width}}  precision  recall     f1  support\n")
    for label, c in result["per_class"].items():
        out.write(f"{label:<{width}}  {c['precision']:>9.3f}  {c['recall']:>6.3f}  {c['f1']:>5.3f}  {c['support']:>7}\n")
    labels, rows = result["confusion"]["labels"], result["confusion"]["rows"]
    out.write("\nconfusion (rows: true label, columns: predicted, in the order above)\n")
    for i, (label, row) in enumerate(zip(labels, rows)):
        out.write(f"{label:<{width}}  " + " ".join(f"{n:>5}" for n in row) + f"   [{i}]\n")
    return out.getvalue()


# -- the bundled default model ---------------------------------------------------------------------
def is_holdout(identifier: str, percent: int = HOLDOUT_PERCENT) -> bool:
    """Deterministic split by id: the same text is held out whatever file order or machine."""
    return int(hashlib.sha256(identifier.encode("utf-8")).hexdigest()[:8], 16) % 100 < percent


def label_files(labels_dir: Path = LABELS_DIR) -> list[Path]:
    return sorted(labels_dir.glob("*.csv"))


def default_dataset(datasets: Path = DEFAULT_DATASETS, labels_dir: Path = LABELS_DIR) -> LabelledData:
    """The labelled texts of the default taxonomy: each ``training/labels/<dataset>.csv`` (id,label) joined
    with the dataset's texts. Ids are prefixed with the dataset name; the order is the label files'."""
    data = LabelledData([], [], [])
    files = label_files(labels_dir)
    if not files:
        raise TrainingError(f"no label files in {labels_dir}")
    for path in files:
        dataset = path.stem
        source = datasets / dataset / DEFAULT_SOURCES.get(dataset, "dev.csv")
        if not source.is_file():
            raise TrainingError(f"{path.name}: the texts are in {source}, which is missing "
                                "(put the shared datasets beside the repository or pass --datasets)")
        texts = read_csv(source, label_column=None)
        by_id = dict(zip(texts.ids, texts.texts))
        labelled = read_csv(path, text_column="label", label_column="label")
        for identifier, label in zip(labelled.ids, labelled.labels):
            if label not in DEFAULT_LABELS:
                raise TrainingError(f"{path.name}: {identifier}: unknown label {label!r}")
            if identifier not in by_id:
                raise TrainingError(f"{path.name}: id {identifier} is not in {source}")
            data.ids.append(f"{dataset}/{identifier}")
            data.texts.append(by_id[identifier])
            data.labels.append(label)
    return data


def split_default(data: LabelledData) -> tuple[LabelledData, LabelledData]:
    train_part, holdout = LabelledData([], [], []), LabelledData([], [], [])
    for i, t, l in zip(data.ids, data.texts, data.labels):
        part = holdout if is_holdout(i) else train_part
        part.ids.append(i)
        part.texts.append(t)
        part.labels.append(l)
    return train_part, holdout


def _language(identifier: str) -> str:
    return "zh" if identifier.split("/")[0].endswith("_zh") else "en"


DEFAULT_SETTINGS = TrainSettings()


def build_default(out: Path | None = None, datasets: Path = DEFAULT_DATASETS, labels_dir: Path = LABELS_DIR,
                  progress: Progress | None = None, settings: TrainSettings = DEFAULT_SETTINGS) -> dict[str, Any]:
    """Train the default model on the labelled sample minus its hold-out, score the hold-out, save."""
    progress = progress or Progress()
    out = out or ROOT / "functions" / "router" / "models" / "default.json.gz"
    data = default_dataset(datasets, labels_dir)
    train_part, holdout = split_default(data)
    progress.step(f"{len(data)} labelled texts: {len(train_part)} to train, {len(holdout)} held out")
    by_dataset = Counter(i.split("/")[0] for i in train_part.ids)
    document = train(train_part.texts, train_part.labels, settings, name="default", label_order=DEFAULT_LABELS,
                     progress=progress, trained_on={
                         "description": "hand-labelled real complaints/reviews (training/labels), "
                                        f"{100 - HOLDOUT_PERCENT}% of them; the rest is the held-out sample",
                         "datasets": dict(sorted(by_dataset.items())),
                         "languages": dict(Counter(_language(i) for i in train_part.ids))})
    model = TextClassifier(document)
    held = evaluate(model, holdout.texts, holdout.labels)
    by_language = {}
    for lang in ("zh", "en"):
        idx = [k for k, i in enumerate(holdout.ids) if _language(i) == lang]
        if idx:
            sub = metrics([holdout.labels[k] for k in idx],
                          [model.classify(holdout.texts[k]).label for k in idx], DEFAULT_LABELS)
            by_language[lang] = {"texts": sub["texts"], "accuracy": sub["accuracy"], "macro_f1": sub["macro_f1"]}
    held["by_language"] = by_language
    held.pop("model_version", None)
    document["metrics"]["holdout"] = held
    # the version hash covers the numbers only; metrics may be added after it was computed
    save_model(document, out)
    progress.step(f"held-out sample ({held['texts']} texts): accuracy {held['accuracy']:.4f}, "
                  f"macro-F1 {held['macro_f1']:.4f}; written {out}")
    return document


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m infra.training",
                                description="Rebuild the bundled default model from training/labels.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build-default", help="rebuild functions/router/models/default.json.gz")
    b.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    b.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    try:
        document = build_default(args.out, args.datasets)
    except TrainingError as exc:
        print(f"build-default: {exc}", file=sys.stderr)
        return 2
    print(format_report({**document["metrics"]["holdout"], "model_version": document["model_version"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
