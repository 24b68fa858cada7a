//! One byte-range shard of a rating file, parsed on its own, for loaders that never hold the
//! whole file: each worker reads its shard ([`read_ratings_shard`]), the workers exchange only
//! their shards' distinct id tokens ([`IdTokens`]), and every worker then builds the same dense
//! numbering ([`unify_ids`], the canonical order of [`crate::read_ratings`], which merges its
//! shards the same way) and finds its own tokens in it ([`find_ids`]).
//!
//! Errors are those of [`crate::read_ratings`], with the same `file:line`: a shard reports the
//! first bad line it owns, so the first failing shard (in shard order) holds the file's first bad
//! line. Whether the file holds any rating at all, and for MatrixMarket whether the entries
//! match the header's count, can only be decided from every shard's count
//! ([`check_ratings_total`]).

use std::path::Path;

use crate::error::DataError;
use crate::matrix_market::{check_mm_total, read_mm_shard, MmHeader};
#[cfg(doc)]
use crate::ratings::unify_ids;
use crate::ratings::{
    canonical_key, dense_ids, detect_format, ratings_mm_header, read_text_shard, CanonicalKey,
    IdTokens, RatingsFormat,
};
use crate::shard::shard_byte_range;

/// One shard of a rating file: its ratings in file order, with shard-local user and item
/// indices into [`RatingsShard::user_ids`] and [`RatingsShard::item_ids`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RatingsShard {
    /// The token of each local user index (in first-occurrence order for text files).
    pub user_ids: IdTokens,
    /// The token of each local item index.
    pub item_ids: IdTokens,
    /// Local user index of each rating.
    pub users: Vec<u32>,
    /// Local item index of each rating.
    pub items: Vec<u32>,
    /// The rating values.
    pub values: Vec<f64>,
    /// Bytes of the file this shard read: its owned lines (for MatrixMarket, its byte range of
    /// the entries). The shards' figures add up to the file's data.
    pub bytes_read: u64,
    /// For a MatrixMarket file, its header (the shards' total is checked against its count).
    pub mm_header: Option<MmHeader>,
}

impl RatingsShard {
    /// Number of ratings in this shard.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether this shard holds no rating.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Reads and parses shard `shard` of `n_shards` of the rating file `path` (the shards of
/// [`crate::shard`]: every line belongs to exactly one). Fails like [`crate::read_ratings`] on the
/// first bad line this shard owns, naming `path:line`; an empty shard is not an error (see
/// [`check_ratings_total`]).
pub fn read_ratings_shard(
    path: &Path,
    format: RatingsFormat,
    shard: usize,
    n_shards: usize,
) -> Result<RatingsShard, DataError> {
    let format = match format {
        RatingsFormat::Auto => detect_format(path)?,
        other => other,
    };
    if format == RatingsFormat::MatrixMarket {
        return read_mm_ratings_shard(path, shard, n_shards);
    }
    let parsed = read_text_shard(path, format == RatingsFormat::MovieLens, shard, n_shards)?;
    Ok(RatingsShard {
        user_ids: parsed.user_ids,
        item_ids: parsed.item_ids,
        users: parsed.users,
        items: parsed.items,
        values: parsed.values,
        bytes_read: parsed.bytes_read,
        mm_header: None,
    })
}

/// MatrixMarket: the 1-based row and column indices are the tokens.
fn read_mm_ratings_shard(
    path: &Path,
    shard: usize,
    n_shards: usize,
) -> Result<RatingsShard, DataError> {
    let header = ratings_mm_header(path)?;
    let entries = read_mm_shard(path, &header, shard, n_shards)?;
    let file_len = std::fs::metadata(path)
        .map_err(|e| DataError::io(path, e))?
        .len();
    let (start, end) = shard_byte_range(header.data_start, file_len, shard, n_shards);
    let (row_index, user_names) = dense_ids(entries.iter().map(|e| e.row), header.rows);
    let (col_index, item_names) = dense_ids(entries.iter().map(|e| e.col), header.cols);
    Ok(RatingsShard {
        user_ids: IdTokens::from_tokens(user_names.iter().map(String::as_bytes)),
        item_ids: IdTokens::from_tokens(item_names.iter().map(String::as_bytes)),
        users: entries.iter().map(|e| row_index.get(e.row)).collect(),
        items: entries.iter().map(|e| col_index.get(e.col)).collect(),
        values: entries.iter().map(|e| e.value).collect(),
        bytes_read: end - start,
        mm_header: Some(header),
    })
}

/// Once every shard of `path` is read without error: fails when the shards together hold
/// `total` ratings and that is none ([`DataError::Empty`]) or, for a MatrixMarket file
/// (`mm_header`), not the header's count. The same checks, in the same order, as
/// [`crate::read_ratings`].
pub fn check_ratings_total(
    path: &Path,
    mm_header: Option<&MmHeader>,
    total: usize,
) -> Result<(), DataError> {
    if let Some(header) = mm_header {
        check_mm_total(path, header, total)?;
    }
    if total == 0 {
        return Err(DataError::Empty {
            path: path.to_owned(),
            what: "ratings".into(),
        });
    }
    Ok(())
}

/// For each token of `tokens`, its index in `known` (a list in the canonical order, as
/// [`unify_ids`] gives it), or `None` if `known` lacks it.
pub fn find_ids(known: &[String], tokens: &IdTokens) -> Vec<Option<u32>> {
    let mut keyed: Vec<(CanonicalKey<'_>, u32)> = tokens
        .iter()
        .enumerate()
        .map(|(l, token)| (canonical_key(token), l as u32))
        .collect();
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut found = vec![None; tokens.len()];
    let mut k = 0;
    for (key, l) in keyed {
        while k < known.len() && canonical_key(known[k].as_bytes()) < key {
            k += 1;
        }
        if k < known.len() && known[k].as_bytes() == key.2 {
            found[l as usize] = Some(k as u32);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratings::unify_ids;
    use crate::read_ratings;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The shards of `path`, unified, as `read_ratings` gives them.
    fn through_shards(path: &Path, n: usize) -> crate::Ratings {
        let shards: Vec<RatingsShard> = (0..n)
            .map(|s| read_ratings_shard(path, RatingsFormat::Auto, s, n).unwrap())
            .collect();
        let total: usize = shards.iter().map(RatingsShard::len).sum();
        check_ratings_total(path, shards[0].mm_header.as_ref(), total).unwrap();
        let users: Vec<&IdTokens> = shards.iter().map(|s| &s.user_ids).collect();
        let items: Vec<&IdTokens> = shards.iter().map(|s| &s.item_ids).collect();
        let (user_ids, user_maps) = unify_ids(&users);
        let (item_ids, item_maps) = unify_ids(&items);
        let mut ratings = crate::Ratings {
            user_ids,
            item_ids,
            ..Default::default()
        };
        for (s, shard) in shards.iter().enumerate() {
            ratings
                .users
                .extend(shard.users.iter().map(|&u| user_maps[s][u as usize]));
            ratings
                .items
                .extend(shard.items.iter().map(|&i| item_maps[s][i as usize]));
            ratings.values.extend(&shard.values);
        }
        ratings
    }

    #[test]
    fn shards_unified_read_as_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            write(
                &dir,
                "a.txt",
                "\u{feff}10 b 1.5\n2 a 2\n\nalice b -1 99\n007 c 3\n7 a 1\n",
            ),
            write(
                &dir,
                "a.csv",
                "user,item,rating\n10, b ,1.5\n2,a,2\nalice,b,-1\n",
            ),
            write(&dir, "a.dat", "10::b::1.5::0\n2::a::2::0\nalice::b::-1::0\n"),
            write(
                &dir,
                "a.mtx",
                "%%MatrixMarket matrix coordinate real general\n% c\n5 4 3\n5 1 3.5\n2 4 1\n5 4 2\n",
            ),
        ];
        for path in &files {
            let whole = read_ratings(path, RatingsFormat::Auto, 1).unwrap();
            for n in 1..6 {
                let shards = through_shards(path, n);
                assert_eq!(shards, whole, "{path:?} in {n} shards");
                let read: u64 = (0..n)
                    .map(|s| {
                        read_ratings_shard(path, RatingsFormat::Auto, s, n)
                            .unwrap()
                            .bytes_read
                    })
                    .sum();
                let len = std::fs::metadata(path).unwrap().len();
                assert!(read <= len && read + 60 >= len, "{path:?}: {read} of {len}");
            }
        }
    }

    #[test]
    fn a_bad_line_is_named_by_the_shard_that_owns_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "bad.txt", "1 2 3\n4 5 6\n7 8 x\n9 9 9\n");
        let errors: Vec<String> = (0..3)
            .filter_map(|s| read_ratings_shard(&path, RatingsFormat::Auto, s, 3).err())
            .map(|e| e.to_string())
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("bad.txt:3: expected a numeric rating"));
        let empty = write(&dir, "empty.txt", "user item rating\n\n");
        let shard = read_ratings_shard(&empty, RatingsFormat::Auto, 0, 1).unwrap();
        let error = check_ratings_total(&empty, None, shard.len()).unwrap_err();
        assert!(error.to_string().ends_with("the file holds no ratings"));
        let short = write(
            &dir,
            "short.mtx",
            "%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1\n",
        );
        let shard = read_ratings_shard(&short, RatingsFormat::Auto, 0, 2).unwrap();
        assert!(check_ratings_total(&short, shard.mm_header.as_ref(), 1).is_err());
    }

    #[test]
    fn ids_are_found_in_a_canonical_list() {
        let known: Vec<String> = ["2", "007", "7", "10", "a", "b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let tokens =
            IdTokens::from_tokens([&b"b"[..], b"7", b"x", b"10", b"007", b"3"].iter().copied());
        assert_eq!(
            find_ids(&known, &tokens),
            [Some(5), Some(2), None, Some(3), Some(1), None]
        );
        assert_eq!(
            tokens.iter().collect::<Vec<_>>(),
            [&b"b"[..], b"7", b"x", b"10", b"007", b"3"]
        );
        assert!(IdTokens::new().iter().next().is_none());
    }
}
