//! Regression tests for inputs that were misread or made the reader allocate without bound: a
//! UTF-8 byte order mark in every format, headers that could be data, all-comment corpora, and
//! header sizes far beyond what the file holds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use strads_io::corpus::{
    detect_corpus_format, read_docword_header, read_docword_shard, read_id_count_shard,
    read_stopwords, read_text_shard, read_vocabulary, CorpusFormat,
};
use strads_io::{
    read_coefficients, read_labels, read_libsvm_shard, read_mm_header, read_mm_shard, read_pairs,
    read_ratings, read_shard_lines, DataError, LabelKind, LibsvmOptions, RatingsFormat,
};

const BOM: &str = "\u{feff}";

fn write(dir: &tempfile::TempDir, name: &str, content: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Reads `content` with and without a byte order mark in front through `read`, and checks that
/// both give the same result.
fn same_with_bom<T: PartialEq + std::fmt::Debug>(
    content: &str,
    read: impl Fn(&Path) -> Result<T, DataError>,
) -> T {
    let dir = tempfile::tempdir().unwrap();
    let plain = read(&write(&dir, "plain", content)).unwrap();
    let marked = read(&write(&dir, "marked", &format!("{BOM}{content}")))
        .unwrap_or_else(|e| panic!("with a byte order mark: {e}"));
    assert_eq!(plain, marked, "{content:?}");
    plain
}

#[test]
fn a_byte_order_mark_is_skipped_in_every_format() {
    let rows = same_with_bom("1 1:2 3:4\n-1 2:1\n", |p| {
        read_libsvm_shard(p, 0, 1, &LibsvmOptions::default())
    });
    assert_eq!(rows.labels, [1.0, -1.0]);
    for shards in 1..4 {
        same_with_bom("1 1:2 3:4\n-1 2:1\n", |p| {
            let mut all = strads_io::SparseRows::new();
            for s in 0..shards {
                all.append(&read_libsvm_shard(p, s, shards, &LibsvmOptions::default())?);
            }
            Ok(all)
        });
    }
    let mm = "%%MatrixMarket matrix coordinate real general\n2 2 1\n2 1 5\n";
    same_with_bom(mm, |p| {
        let header = read_mm_header(p)?;
        read_mm_shard(p, &header, 0, 1).map(|e| e.iter().map(|e| e.value).collect::<Vec<_>>())
    });
    same_with_bom("1\n-1\n", |p| read_labels(p, 2, LabelKind::Real));
    same_with_bom("2 0.5\n", read_coefficients);
    same_with_bom("u1 i1\n", read_pairs);
    // Ratings: the user `1` of the first line is the user `1` of the second (the mark once
    // split it into two users).
    let ratings = same_with_bom("1 10 5\n1 20 3\n", |p| {
        read_ratings(p, RatingsFormat::Auto, 2)
    });
    assert_eq!(ratings.user_ids, ["1"]);
    same_with_bom("user item rating\n1 10 5\n", |p| {
        read_ratings(p, RatingsFormat::Auto, 1)
    });
    same_with_bom("1::10::5::0\n", |p| read_ratings(p, RatingsFormat::Auto, 1));
    same_with_bom(mm, |p| read_ratings(p, RatingsFormat::Auto, 1));
    // Docword: the mark once made the file plain text.
    let docword = "2\n3\n2\n1 1 2\n2 3 1\n";
    assert_eq!(
        same_with_bom(docword, detect_corpus_format),
        CorpusFormat::Docword
    );
    same_with_bom(docword, |p| {
        let header = read_docword_header(p)?;
        read_docword_shard(p, &header, 0, 1)
    });
    same_with_bom("1 1:2 3:1\n", |p| read_id_count_shard(p, 0, 1, None));
    same_with_bom("the cat\nsat\n", |p| read_text_shard(p, 0, 1));
    same_with_bom("alpha\nbeta\n", read_vocabulary);
    same_with_bom("the a\n", read_stopwords);
    same_with_bom("line one\nline two\n", |p| {
        read_shard_lines(p, 0, 1, 0).map(|t| t.bytes)
    });
}

#[test]
fn a_first_ratings_line_is_a_header_only_when_it_could_not_be_data() {
    let dir = tempfile::tempdir().unwrap();
    for header in [
        "user item rating",
        "userId,movieId,rating,timestamp",
        "u i r t",
    ] {
        let path = write(&dir, "h.txt", &format!("{header}\n1 2 3\n"));
        let ratings = read_ratings(&path, RatingsFormat::Auto, 1).unwrap();
        assert_eq!(ratings.len(), 1, "{header}");
    }
    for (first, problem) in [
        ("1 2 nan", "\"nan\" is not finite"),
        ("1 2 inf", "\"inf\" is not finite"),
        ("1 2 1e400", "\"1e400\" is not finite"),
        ("1 2 x", "\"x\" is not a number"),
        ("a b nan", "\"nan\" is not finite"),
    ] {
        let path = write(&dir, "d.txt", &format!("{first}\n1 2 3\n"));
        for threads in 1..3 {
            let error = read_ratings(&path, RatingsFormat::Auto, threads)
                .unwrap_err()
                .to_string();
            assert_eq!(
                error,
                format!(
                    "{}:1: expected a numeric rating in field 3, {problem}",
                    path.display()
                )
            );
        }
    }
    // With a byte order mark the first line is still the first line.
    let path = write(&dir, "b.txt", &format!("{BOM}1 2 nan\n1 2 3\n"));
    let error = read_ratings(&path, RatingsFormat::Auto, 1).unwrap_err();
    assert!(matches!(error, DataError::Parse { line: 1, .. }), "{error}");
}

#[test]
fn non_finite_values_are_errors_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["nan", "inf", "-inf", "1e400", "NaN"] {
        let path = write(&dir, "x.libsvm", &format!("1 1:1\n1 2:{bad}\n"));
        let error = read_libsvm_shard(&path, 0, 1, &LibsvmOptions::default()).unwrap_err();
        assert!(matches!(error, DataError::Parse { line: 2, .. }), "{error}");
        let path = write(&dir, "y.txt", &format!("1\n{bad}\n"));
        let error = read_labels(&path, 2, LabelKind::Real).unwrap_err();
        assert!(matches!(error, DataError::Parse { line: 2, .. }), "{error}");
        let path = write(
            &dir,
            "x.mtx",
            &format!("%%MatrixMarket matrix coordinate real general\n2 2 2\n1 1 1\n2 2 {bad}\n"),
        );
        let header = read_mm_header(&path).unwrap();
        let error = read_mm_shard(&path, &header, 0, 1).unwrap_err();
        assert!(matches!(error, DataError::Parse { line: 4, .. }), "{error}");
        let path = write(&dir, "r.txt", &format!("1 2 3\n2 1 {bad}\n"));
        let error = read_ratings(&path, RatingsFormat::Auto, 2).unwrap_err();
        assert!(matches!(error, DataError::Parse { line: 2, .. }), "{error}");
        let path = write(&dir, "c.txt", &format!("1 1\n2 {bad}\n"));
        let error = read_coefficients(&path).unwrap_err();
        assert!(matches!(error, DataError::Parse { line: 2, .. }), "{error}");
    }
}

#[test]
fn an_all_comment_corpus_holds_no_documents() {
    let dir = tempfile::tempdir().unwrap();
    for content in ["# a comment\n# another\n", "\n\n# c\n", ""] {
        let path = write(&dir, "c.txt", content);
        let error = detect_corpus_format(&path).unwrap_err();
        assert!(matches!(error, DataError::Empty { .. }), "{error}");
        assert!(error.to_string().contains("no documents"), "{error}");
        let error = read_docword_header(&path).unwrap_err();
        assert!(
            error.to_string().contains("found the end of the file"),
            "{error}"
        );
    }
    // Comments before and between the header lines are skipped, as in the body.
    let path = write(&dir, "d.txt", "# UCI\n2\n# words\n3\n1\n1 1 1\n");
    assert_eq!(detect_corpus_format(&path).unwrap(), CorpusFormat::Docword);
    let header = read_docword_header(&path).unwrap();
    assert_eq!((header.docs, header.words, header.nnz), (2, 3, 1));
    assert_eq!(read_docword_shard(&path, &header, 0, 1).unwrap().len(), 1);
}

/// Runs `read` and checks it fails within a second (it must not allocate what the header says).
fn fails_quickly<T: std::fmt::Debug>(read: impl FnOnce() -> Result<T, DataError>) -> DataError {
    let started = Instant::now();
    let error = read().expect_err("a header beyond the file must not be accepted");
    assert!(started.elapsed().as_secs_f64() < 1.0, "{error}");
    error
}

#[test]
fn header_sizes_beyond_the_file_allocate_nothing_for_them() {
    let dir = tempfile::tempdir().unwrap();
    // Labels: a MatrixMarket header of 2^32 rows asked for 2^32 labels up front.
    let labels = write(&dir, "y.txt", "1\n");
    let error = fails_quickly(|| read_labels(&labels, 1 << 32, LabelKind::Real));
    assert!(error.to_string().contains("missing label"), "{error}");
    // Ratings as MatrixMarket: 2^32 rows and columns with one entry.
    let path = write(
        &dir,
        "r.mtx",
        "%%MatrixMarket matrix coordinate real general\n4294967296 4294967296 1\n4294967296 7 4.5\n",
    );
    let ratings = read_ratings(&path, RatingsFormat::Auto, 1).unwrap();
    assert_eq!(ratings.user_ids, ["4294967296"]);
    assert_eq!(ratings.item_ids, ["7"]);
    // The header's count of entries is only a count until the body is read.
    let path = write(
        &dir,
        "n.mtx",
        "%%MatrixMarket matrix coordinate real general\n4294967296 4294967296 4000000000000000000\n1 1 1\n",
    );
    let error = fails_quickly(|| read_ratings(&path, RatingsFormat::Auto, 1));
    assert!(error.to_string().contains("the body has 1"), "{error}");
    // A short ratings file with huge plain-number ids.
    let path = write(&dir, "ids.txt", "67108863 67108862 1\n");
    let ratings = read_ratings(&path, RatingsFormat::Auto, 1).unwrap();
    assert_eq!(ratings.user_ids, ["67108863"]);
    assert_eq!(ratings.item_ids, ["67108862"]);
    // Docword: NNZ of 4e9 against a short body.
    let path = write(&dir, "d.txt", "2\n3\n4000000000\n1 1 1\n");
    let error = fails_quickly(|| {
        let header = read_docword_header(&path)?;
        let cells = read_docword_shard(&path, &header, 0, 1)?;
        strads_io::corpus::check_docword_total(&path, &header, cells.len(), 1)
    });
    assert!(error.to_string().contains("the body has 1"), "{error}");
}
