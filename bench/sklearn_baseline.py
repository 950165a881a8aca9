"""scikit-learn baseline for `bench/compare.sh`: TF-IDF word (1-2) + char_wb (2-5) n-grams,
sublinear TF, LinearSVC, trained on the same split as `deskbot eval`.

Out-of-scope handling mirrors deskbot's: `oos` training rows are one more class, and a
threshold on the best in-scope decision value is chosen on val alone by the same rule
(maximise (1 - OOS_SHARE) * in-scope accuracy + OOS_SHARE * OOS recall, rejecting at most
MAX_REJECT of the in-scope val rows).
Prints one JSON object with the same keys as `deskbot eval --json`.
"""

import json
import sys
import time

import numpy as np
from sklearn.pipeline import make_union
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

MAX_REJECT = float(sys.argv[4]) if len(sys.argv) > 4 else 0.05
OOS_SHARE = float(sys.argv[5]) if len(sys.argv) > 5 else 0.2


def read(path):
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r["text"] for r in rows], [r["intent"] for r in rows]


def choose_threshold(best, correct, is_oos, model_rejects):
    """Same sweep as deskbot's threshold::choose."""
    order = np.argsort(best, kind="stable")
    n_in = int((~is_oos).sum())
    n_oos = int(is_oos.sum())
    in_ok = int(((~is_oos) & (~model_rejects) & correct).sum())
    in_rej = int(((~is_oos) & model_rejects).sum())
    oos_rej = int((is_oos & model_rejects).sum())

    def score(a, b, c):
        return (1 - OOS_SHARE) * (a / max(n_in, 1)) + OOS_SHARE * (c / n_oos if n_oos else 0.0)

    best_t, best_s = -np.inf, score(in_ok, in_rej, oos_rej)
    for k, i in enumerate(order):
        if not model_rejects[i]:
            if is_oos[i]:
                oos_rej += 1
            else:
                in_rej += 1
                in_ok -= int(correct[i])
        if k + 1 < len(order) and best[order[k + 1]] == best[i]:
            continue
        t = (best[i] + best[order[k + 1]]) / 2 if k + 1 < len(order) else best[i] + 1e-6
        if in_rej / max(n_in, 1) > MAX_REJECT:
            break
        s = score(in_ok, in_rej, oos_rej)
        if s > best_s:
            best_t, best_s = t, s
    return best_t


def main():
    train_path, val_path, test_path = sys.argv[1:4]
    xtr, ytr = read(train_path)
    xva, yva = read(val_path)
    xte, yte = read(test_path)

    start = time.perf_counter()
    vec = make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    )
    X = vec.fit_transform(xtr)
    clf = LinearSVC(C=1.0)
    clf.fit(X, ytr)
    train_seconds = time.perf_counter() - start

    classes = list(clf.classes_)
    oos_col = classes.index("oos") if "oos" in classes else None
    in_cols = [i for i, c in enumerate(classes) if c != "oos"]

    def decide(texts):
        d = clf.decision_function(vec.transform(texts))
        d_in = d[:, in_cols]
        arg = d_in.argmax(axis=1)
        best = d_in.max(axis=1)
        pred = np.array([classes[in_cols[a]] for a in arg])
        rej = d[:, oos_col] > best if oos_col is not None else np.zeros(len(texts), bool)
        return pred, best, rej

    pv, bv, rv = decide(xva)
    yva = np.array(yva)
    threshold = choose_threshold(bv, pv == yva, yva == "oos", rv)

    pt, bt, rt = decide(xte)
    yte = np.array(yte)
    final = np.where(rt | (bt < threshold), "oos", pt)
    ins = yte != "oos"
    oos = ~ins
    rejected = final == "oos"

    lat = []
    for text in xte[:1000]:
        t0 = time.perf_counter()
        clf.decision_function(vec.transform([text]))
        lat.append((time.perf_counter() - t0) * 1e6)
    lat.sort()

    print(json.dumps({
        "accuracy": float((final == yte).mean()),
        "in_scope_accuracy": float((final[ins] == yte[ins]).mean()),
        "closed_in_scope_accuracy": float((pt[ins] == yte[ins]).mean()),
        "oos_precision": float((oos & rejected).sum() / max(rejected.sum(), 1)),
        "oos_recall": float((oos & rejected).sum() / max(oos.sum(), 1)),
        "train_seconds": train_seconds,
        "latency_us_p50": lat[len(lat) // 2],
        "latency_us_p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "threshold": float(threshold),
        "n_test": int(len(yte)),
    }))


if __name__ == "__main__":
    main()
