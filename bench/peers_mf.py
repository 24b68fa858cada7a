#!/usr/bin/env python3
"""Matrix-factorisation peers for bench/run_mf.py; run with bench/venv-mf/bin/python.

    peers_mf.py spark    --train T --test S --rank 10 --lambda 0.05 --iters 1,2,5,10
    peers_mf.py surprise --train T --test S --rank 10 --epochs 3

Prints one JSON line per measurement on stdout.

- spark: pyspark.ml ALS on local[2] (regParam = lambda: Spark scales each row's penalty by its
  rating count, i.e. strads --reg-scaling count). Spark exposes no per-iteration error, so the
  model is fitted from scratch for each maxIter in --iters; each line has the fit time, the load
  time (reading and caching the ratings) and the test RMSE. The JVM start-up is reported apart.
- surprise: SVD (biased, its defaults except n_factors = rank and n_epochs) on one core (it has no
  parallel SGD); seconds per epoch are measured by fitting with n_epochs = 1 and --epochs, and the
  test RMSE after --epochs.
"""

import argparse
import json
import sys
import time


def spark(args):
    started = time.time()
    from pyspark.sql import SparkSession
    from pyspark.ml.recommendation import ALS
    from pyspark.ml.evaluation import RegressionEvaluator
    from pyspark.sql.types import StructType, StructField, IntegerType, FloatType

    session = (SparkSession.builder.master("local[2]").appName("strads-bench-mf")
               .config("spark.driver.memory", args.driver_memory)
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.ui.enabled", "false")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    session.sparkContext.setCheckpointDir("/tmp/strads-spark-checkpoints")
    startup = time.time() - started
    schema = StructType([StructField("user", IntegerType()), StructField("item", IntegerType()),
                         StructField("rating", FloatType())])

    def load(path):
        frame = session.read.csv(path, sep=" ", schema=schema).repartition(4).cache()
        frame.count()
        return frame

    t = time.time()
    train = load(args.train)
    test = load(args.test)
    load_seconds = time.time() - t
    evaluator = RegressionEvaluator(metricName="rmse", labelCol="rating", predictionCol="prediction")
    for iters in [int(x) for x in args.iters.split(",")]:
        als = ALS(rank=args.rank, maxIter=iters, regParam=args.reg, userCol="user", itemCol="item",
                  ratingCol="rating", seed=1, coldStartStrategy="nan", numUserBlocks=4,
                  numItemBlocks=4)
        t = time.time()
        model = als.fit(train)
        # Materialise the factors so the fit is really done.
        model.userFactors.count()
        model.itemFactors.count()
        fit_seconds = time.time() - t
        predictions = model.transform(test)
        # Cold-start pairs (NaN) are predicted with the global mean, as strads does.
        mean = train.groupBy().avg("rating").first()[0]
        predictions = predictions.fillna({"prediction": mean})
        rmse = evaluator.evaluate(predictions)
        print(json.dumps(dict(system="spark", iterations=iters, fit_seconds=fit_seconds,
                              load_seconds=load_seconds, startup_seconds=startup,
                              rmse_test=rmse)), flush=True)
    session.stop()


def surprise(args):
    from surprise import Dataset, Reader, SVD, accuracy

    t = time.time()
    reader = Reader(line_format="user item rating", sep=" ", rating_scale=(-100, 100))
    trainset = Dataset.load_from_file(args.train, reader).build_full_trainset()
    with open(args.test) as f:
        testset = [(u, i, float(r)) for u, i, r in (line.split() for line in f)]
    load_seconds = time.time() - t
    for epochs in sorted({1, args.epochs}):
        algo = SVD(n_factors=args.rank, n_epochs=epochs, random_state=1)
        t = time.time()
        algo.fit(trainset)
        fit_seconds = time.time() - t
        predictions = algo.test(testset)
        rmse = accuracy.rmse(predictions, verbose=False)
        print(json.dumps(dict(system="surprise", iterations=epochs, fit_seconds=fit_seconds,
                              seconds_per_epoch=fit_seconds / epochs,
                              load_seconds=load_seconds, rmse_test=rmse)), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("system", choices=["spark", "surprise"])
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--rank", type=int, default=10)
    p.add_argument("--lambda", dest="reg", type=float, default=0.05)
    p.add_argument("--iters", default="1,2,5,10", help="spark: maxIter values")
    p.add_argument("--epochs", type=int, default=3, help="surprise: epochs")
    p.add_argument("--driver-memory", default="8g", help="spark: the JVM's heap (local mode)")
    args = p.parse_args()
    {"spark": spark, "surprise": surprise}[args.system](args)


if __name__ == "__main__":
    sys.exit(main())
