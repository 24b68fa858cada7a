#!/usr/bin/env python3
"""word2vec benchmark: `strads word2vec` against gensim's Word2Vec (workers=2) and fastText
(thread 2, no character n-grams), the same corpus and settings, in one invocation.

    bench/setup_w2v.sh                       # once: bench/venv-w2v (gensim, fasttext)
    cargo build --release -p strads-cli      # the strads binary
    python3 bench/run_word2vec.py            # both shapes (about 15 minutes)
    python3 bench/run_word2vec.py --quick    # a small corpus (smoke test)

Shapes:
  english    real English text shipped in gensim's wheel (gensim/test/test_data:
             head500.noblanks.cor, Wikipedia text, and lee_background.cor, news), concatenated
             and repeated to at least --min-words words. Quality is measured here: every
             system's vectors are evaluated with gensim's own evaluators on WordSim-353
             (Spearman) and the Google analogy set (questions-words.txt), both from the same
             test data.
  planted    `strads gen text` (sentences from planted word clusters), for speed on a second
             shape.
Speed is words/s = corpus words x epochs / each system's own training seconds (loading and
writing excluded for everyone); peak memory is each process's maximum RSS (`/usr/bin/time -v`).
Writes bench/results/word2vec.md and word2vec.jsonl. Uses only the standard library (the peers
run in their venv).
"""

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RELEASE = ROOT / "target" / "release"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a 1M-word corpus, 1 epoch")
    p.add_argument("--min-words", type=int, default=10_000_000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--negative", type=int, default=5)
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--sample", type=float, default=1e-3)
    p.add_argument("--cbow", action="store_true")
    p.add_argument("--systems", default="strads,strads-shared,gensim,fasttext",
                   help="strads-shared: strads with --shared-negatives")
    p.add_argument("--strads-flags", default="",
                   help="extra flags for both strads systems, e.g. '--sync-words 200000'")
    p.add_argument("--python", default=str(BENCH / "venv-w2v" / "bin" / "python"))
    p.add_argument("--out", default=None)
    return p.parse_args()


def timed(cmd, env=None):
    """Runs `cmd` under /usr/bin/time -v; returns (stdout, wall seconds, peak RSS in MiB)."""
    print("+", shlex.join(cmd), file=sys.stderr, flush=True)
    started = time.time()
    done = subprocess.run(["/usr/bin/time", "-v"] + cmd, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env)
    wall = time.time() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"failed ({done.returncode}): {shlex.join(cmd)}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return done.stdout, wall, (int(rss.group(1)) / 1024 if rss else None)


def last_json(stdout):
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def english_corpus(args, data_dir, out):
    """gensim's English test texts, repeated to at least args.min_words words."""
    texts = [Path(data_dir) / "head500.noblanks.cor", Path(data_dir) / "lee_background.cor"]
    base = "".join(t.read_text(encoding="utf-8", errors="replace").rstrip("\n") + "\n"
                   for t in texts)
    words = len(base.split())
    copies = max(1, -(-args.min_words // words))
    out.write_text(base * copies, encoding="utf-8")
    return words * copies, f"gensim test data head500.noblanks.cor + lee_background.cor " \
                           f"({words} words) x {copies}"


def planted_corpus(strads, args, out):
    # 20,000 cluster words and 100 fillers: a vocabulary the size of a real text's.
    sentences = max(1000, args.min_words // 20)
    cmd = [strads, "gen", "text", "--out", str(out), "--clusters", "500", "--words-per-cluster",
           "40", "--fillers", "100", "--sentence-length", "20", "--sentences", str(sentences)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    words = len(out.read_text().split())
    return words, shlex.join(["strads"] + cmd[1:])


def settings(args):
    return ["--dim", str(args.dim), "--window", str(args.window), "--negative",
            str(args.negative), "--min-count", str(args.min_count), "--sample", str(args.sample),
            "--epochs", str(args.epochs), "--alpha", "0.025", "--min-alpha", "0.0001"] + \
        (["--cbow"] if args.cbow else [])


def run_shape(args, strads, shape, corpus, words, tmp, evaluate):
    records = []
    systems = args.systems.split(",")
    for system in systems:
        vectors = Path(tmp) / f"{shape}-{system}.vec"
        if system in ("strads", "strads-shared"):
            cmd = [strads, "word2vec", "--data", str(corpus), "--out", str(vectors),
                   "--threads", "2", "--json"] + settings(args) + shlex.split(args.strads_flags)
            if system == "strads-shared":
                cmd.append("--shared-negatives")
            out, wall, rss = timed(cmd)
            s = last_json(out)
            train_seconds, vocab = s["train_seconds"], s["vocabulary"]
            extra = {"final_loss": s.get("final_loss"), "consistency": s.get("consistency")}
        else:
            cmd = [args.python, str(BENCH / "peers_w2v.py"), "train", "--system", system,
                   "--data", str(corpus), "--out", str(vectors), "--workers", "2"] + settings(args)
            out, wall, rss = timed(cmd)
            s = last_json(out)
            train_seconds, vocab, extra = s["train_seconds"], s["vocabulary"], {}
        record = dict(shape=shape, system=system, words=words, epochs=args.epochs,
                      train_seconds=train_seconds, wall_seconds=wall, peak_mib=rss,
                      vocabulary=vocab, words_per_second=words * args.epochs / train_seconds,
                      command=shlex.join(cmd), **extra)
        if evaluate:
            out, _, _ = timed([args.python, str(BENCH / "peers_w2v.py"), "evaluate", "--vectors",
                               str(vectors)])
            record.update(last_json(out))
        records.append(record)
    return records


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def render(args, records, shapes, command):
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}"
    lines = ["# word2vec benchmark\n",
             f"Command: `{command}`  \nMachine: {machine}; load average "
             f"{os.getloadavg()[0]:.1f} at the end. Settings: "
             f"{'CBOW' if args.cbow else 'skip-gram'}, dim {args.dim}, window {args.window}, "
             f"negative {args.negative}, min-count {args.min_count}, sample {args.sample}, "
             f"{args.epochs} epochs, alpha 0.025 -> 0.0001, 2 threads/workers each"
             f"{'; strads also ' + args.strads_flags if args.strads_flags else ''}. "
             f"strads-shared: strads with `--shared-negatives` (one set of negatives per center "
             f"word, shared by its window).\n"]
    for shape, described in shapes.items():
        rows = [r for r in records if r["shape"] == shape]
        by = {r["system"]: r for r in rows}
        lines.append(f"## `{shape}`: {described}, {rows[0]['words']} words\n")
        quality = "wordsim_spearman" in rows[0]
        head = "| system | words/s (M) | train s | whole s | vocabulary | peak MiB |"
        head += " WordSim-353 Spearman | analogy accuracy |" if quality else ""
        lines += [head, "|" + "---|" * (head.count("|") - 1)]
        for r in rows:
            row = (f"| {r['system']} | {r['words_per_second'] / 1e6:.3f} | "
                   f"{r['train_seconds']:.1f} | {r['wall_seconds']:.1f} | {r['vocabulary']} | "
                   f"{r['peak_mib']:.0f} |")
            if quality:
                row += f" {r['wordsim_spearman']:.3f} | {100 * r['analogy_accuracy']:.1f}% |"
            lines.append(row)
        lines.append("")
        for name in ("strads", "strads-shared"):
            s = by.get(name)
            if not s:
                continue
            for peer, target in [("gensim", 1.5), ("fasttext", 1.0)]:
                if peer in by:
                    x = ratio(s["words_per_second"], by[peer]["words_per_second"])
                    lines.append(f"- {name} words/s / {peer}: {x:.2f}x "
                                 f"(target at least {target}x)")
            if quality and "gensim" in by:
                g = by["gensim"]
                d_ws = s["wordsim_spearman"] - g["wordsim_spearman"]
                d_an = 100 * (s["analogy_accuracy"] - g["analogy_accuracy"])
                lines.append(f"- WordSim-353 Spearman, {name} - gensim: {d_ws:+.3f} "
                             f"(target within 0.02)")
                lines.append(f"- analogy accuracy, {name} - gensim: {d_an:+.1f} points "
                             f"(target within 2)")
        lines.append("")
    return "\n".join(lines)


def main():
    args = parse_args()
    if args.quick:
        args.min_words, args.epochs = 1_000_000, 1
    strads = RELEASE / "strads"
    if not strads.exists():
        sys.exit(f"{strads} is missing: run `cargo build --release -p strads-cli`")
    command = "python3 bench/run_word2vec.py " + shlex.join(sys.argv[1:])
    data_dir = subprocess.run([args.python, str(BENCH / "peers_w2v.py"), "data-dir"], check=True,
                              text=True, stdout=subprocess.PIPE).stdout.strip()
    out = Path(args.out) if args.out else BENCH / "results" / (
        "word2vec-quick.md" if args.quick else "word2vec.md")
    records, shapes = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "strads"
        shutil.copy2(strads, binary)
        corpus = Path(tmp) / "english.txt"
        words, described = english_corpus(args, data_dir, corpus)
        shapes["english"] = described
        records += run_shape(args, str(binary), "english", corpus, words, tmp, evaluate=True)
        corpus.unlink()
        corpus = Path(tmp) / "planted.txt"
        words, described = planted_corpus(str(binary), args, corpus)
        shapes["planted"] = f"`{described}`"
        records += run_shape(args, str(binary), "planted", corpus, words, tmp, evaluate=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    text = render(args, records, shapes, command)
    out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
