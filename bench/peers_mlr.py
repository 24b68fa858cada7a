#!/usr/bin/env python3
"""Multinomial logistic regression peers for bench/run_mlr.py, one fit per invocation, one JSON
line on stdout: the objective sum_i -log softmax(W x_i)_{y_i} + lambda/2 ||W||^2 at the fitted W
(computed here the same way for every peer), iterations, test accuracy and log-loss, and the
seconds spent loading and fitting.

    venv-mlr/bin/python peers_mlr.py sklearn --solver lbfgs --train F --test F --lambda 1 --tol 1e-8
    venv-mf/bin/python  peers_mlr.py spark --train F --test F --lambda 1
    venv-mlr/bin/python peers_mlr.py export --name wine --out DIR   # a scikit-learn data set

Labels are mapped to classes 0..K-1 in sorted order (as strads mlr does); no intercept.
"""

import argparse
import json
import os
import time

STARTED = time.time()


def sklearn_fit(args):
    import warnings

    import numpy as np
    from scipy.special import logsumexp
    from sklearn.datasets import load_svmlight_file
    from sklearn.linear_model import LogisticRegression

    X, y = load_svmlight_file(args.train, dtype=np.float64)
    Xt, yt = load_svmlight_file(args.test, n_features=X.shape[1], dtype=np.float64)
    loaded = time.time()
    warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter is reported as iterations
    model = LogisticRegression(
        C=1.0 / args.lam, fit_intercept=False, solver=args.solver, tol=args.tol,
        max_iter=args.max_iter,
    )
    model.fit(X, y)
    fitted = time.time()
    W = model.coef_

    def losses(X, y):
        S = np.asarray(X @ W.T)
        classes = np.searchsorted(model.classes_, y)
        return logsumexp(S, axis=1) - S[np.arange(len(y)), classes], S.argmax(axis=1) == classes

    train_loss, _ = losses(X, y)
    test_loss, right = losses(Xt, yt)
    print(json.dumps(dict(
        objective=float(train_loss.sum() + args.lam / 2 * (W ** 2).sum()),
        iterations=int(np.max(model.n_iter_)),
        test_accuracy=float(right.mean()), test_log_loss=float(test_loss.mean()),
        load_seconds=loaded - STARTED, fit_seconds=fitted - loaded,
    )))


def spark_fit(args):
    import numpy as np
    from pyspark.ml.classification import LogisticRegression
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (SparkSession.builder.master(f"local[{args.cores}]")
             .config("spark.driver.memory", args.driver_memory)
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    read = lambda path: (spark.read.format("libsvm")
                         .option("numFeatures", str(args.features)).load(path))
    train, test = read(args.train), read(args.test)
    labels = sorted(r[0] for r in train.select("label").distinct().collect())
    index = F.create_map(*[F.lit(x) for pair in enumerate(labels) for x in (pair[1], float(pair[0]))])
    train = train.withColumn("label", index[F.col("label")]).cache()
    test = test.withColumn("label", index[F.col("label")]).cache()
    n = train.count()
    test.count()
    loaded = time.time()
    lr = LogisticRegression(family="multinomial", regParam=args.lam / n, elasticNetParam=0.0,
                            fitIntercept=False, standardization=False, maxIter=args.max_iter,
                            tol=args.tol)
    model = lr.fit(train)
    fitted = time.time()
    W = model.coefficientMatrix.toArray()
    history = model.summary.objectiveHistory
    # Spark's objective is the mean loss plus regParam/2 ||W||^2: times n it is F.
    predictions = model.transform(test)
    accuracy = predictions.filter(F.col("prediction") == F.col("label")).count() / test.count()
    # The JVM is not a child that /usr/bin/time waits for: its peak memory is read here.
    jvm = spark.sparkContext._gateway.proc.pid
    with open(f"/proc/{jvm}/status") as status:
        jvm_kb = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
    with open(f"/proc/{jvm}/stat") as stat:
        ticks = sum(int(v) for v in stat.read().rsplit(")", 1)[1].split()[11:13])
    print(json.dumps(dict(
        objective=float(history[-1] * n), iterations=len(history) - 1,
        test_accuracy=accuracy, test_log_loss=None,
        load_seconds=loaded - STARTED, fit_seconds=fitted - loaded,
        jvm_peak_rss_mib=jvm_kb / 1024, jvm_cpu_seconds=ticks / os.sysconf("SC_CLK_TCK"),
    )))
    spark.stop()


def export(args):
    from sklearn import datasets

    data = getattr(datasets, f"load_{args.name}")()
    with open(args.out, "w") as f:
        for row, label in zip(data.data, data.target):
            features = " ".join(f"{j + 1}:{v:.17g}" for j, v in enumerate(row) if v != 0)
            f.write(f"{label} {features}\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="peer", required=True)
    for name in ["sklearn", "spark"]:
        s = sub.add_parser(name)
        s.add_argument("--train", required=True)
        s.add_argument("--test", required=True)
        s.add_argument("--lambda", dest="lam", type=float, required=True)
        s.add_argument("--tol", type=float, default=1e-6)
        s.add_argument("--max-iter", type=int, default=100)
    sub.choices["sklearn"].add_argument("--solver", choices=["lbfgs", "saga"], required=True)
    sub.choices["spark"].add_argument("--features", type=int, required=True)
    sub.choices["spark"].add_argument("--cores", type=int, default=2)
    sub.choices["spark"].add_argument("--driver-memory", default="6g")
    e = sub.add_parser("export")
    e.add_argument("--name", required=True)
    e.add_argument("--out", required=True)
    args = p.parse_args()
    {"sklearn": sklearn_fit, "spark": spark_fit, "export": export}[args.peer](args)


if __name__ == "__main__":
    main()
