//! Splitting lines into tokens and reading numbers from them, without allocating, shared by the
//! text formats. Only the error path builds strings.

/// The whitespace-separated tokens of a line. Spaces, tabs and stray carriage returns separate.
pub(crate) fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&byte| byte == b' ' || byte == b'\t' || byte == b'\r')
        .filter(|token| !token.is_empty())
}

/// Why a token is not an acceptable number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberError {
    /// Not a number at all.
    NotANumber,
    /// A number, but NaN or infinite.
    NotFinite,
}

/// Reads a finite `f64` from `token`, with the grammar of `str::parse::<f64>`.
pub(crate) fn parse_finite(token: &[u8]) -> Result<f64, NumberError> {
    let value: f64 = std::str::from_utf8(token)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(NumberError::NotANumber)?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(NumberError::NotFinite)
    }
}

/// Reads an unsigned decimal integer (ASCII digits only, no sign), or `None` if `token` is
/// something else or does not fit in a `u64`.
pub(crate) fn parse_unsigned(token: &[u8]) -> Option<u64> {
    if token.is_empty() {
        return None;
    }
    token.iter().try_fold(0u64, |acc, &byte| {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// `token` in double quotes for an error message, shortened if it is very long.
pub(crate) fn quoted(token: &[u8]) -> String {
    const MAX: usize = 60;
    let text = String::from_utf8_lossy(token);
    if text.chars().count() <= MAX {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head:?}...")
    }
}

/// The end of a message about a bad number: `"abc" is not a number` or `"nan" is not finite`.
pub(crate) fn number_problem(token: &[u8], error: NumberError) -> String {
    match error {
        NumberError::NotANumber => format!("{} is not a number", quoted(token)),
        NumberError::NotFinite => format!("{} is not finite", quoted(token)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_numbers() {
        let tokens: Vec<&[u8]> = fields(b" 1\t2:3  x\r").collect();
        assert_eq!(tokens, vec![&b"1"[..], b"2:3", b"x"]);
        assert_eq!(parse_finite(b"-1.5e3"), Ok(-1500.0));
        assert_eq!(parse_finite(b"abc"), Err(NumberError::NotANumber));
        assert_eq!(parse_finite(b"NaN"), Err(NumberError::NotFinite));
        assert_eq!(parse_finite(b"-inf"), Err(NumberError::NotFinite));
        assert_eq!(parse_unsigned(b"0042"), Some(42));
        assert_eq!(parse_unsigned(b"-1"), None);
        assert_eq!(parse_unsigned(b""), None);
        assert_eq!(parse_unsigned(b"99999999999999999999"), None);
        assert_eq!(quoted(b"a\"b"), "\"a\\\"b\"");
        assert!(quoted(&[b'x'; 100]).ends_with("\"..."));
    }
}
