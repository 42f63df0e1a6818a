//! Tokens of the C# subset: identifiers, literals (with C# escapes, verbatim `@"…"`,
//! char literals, interpolated `$"…{x}…"`), and punctuation. Knows nothing of meaning.

/// One token; `at` is its byte offset in the expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Str(String),
    /// `$"…"`: literal text and the source of each `{hole}` with its offset.
    Interpolated(Vec<Piece>),
    Int(i64),
    Double(f64),
    Punct(&'static str),
}

/// A part of an interpolated string.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Hole { src: String, at: usize },
}

const PUNCTS: [&str; 29] = [
    "?.", "??", "==", "!=", "<=", ">=", "&&", "||", "(", ")", "{", "}", "[", "]", ".", ",", ";",
    "?", ":", "!", "<", ">", "+", "-", "*", "/", "%", "=", "@",
];

/// Splits `src` into tokens with their offsets.
pub fn lex(src: &str) -> Result<Vec<(Tok, usize)>, String> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'"' {
            let (s, end) = quoted(src, i + 1)?;
            out.push((Tok::Str(s), start));
            i = end;
        } else if src[i..].starts_with("@\"") {
            let (s, end) = verbatim(src, i + 2)?;
            out.push((Tok::Str(s), start));
            i = end;
        } else if src[i..].starts_with("$\"") {
            let (pieces, end) = interpolated(src, i + 2)?;
            out.push((Tok::Interpolated(pieces), start));
            i = end;
        } else if c == b'\'' {
            let (s, end) = char_literal(src, i + 1)?;
            out.push((Tok::Str(s), start));
            i = end;
        } else if c.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let is_double =
                i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit();
            if is_double {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let v = src[start..i]
                    .parse()
                    .map_err(|_| format!("bad number `{}`", &src[start..i]))?;
                out.push((Tok::Double(v), start));
            } else {
                let v = src[start..i]
                    .parse()
                    .map_err(|_| format!("number `{}` is too large", &src[start..i]))?;
                out.push((Tok::Int(v), start));
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((Tok::Ident(src[start..i].to_string()), start));
        } else if let Some(p) = PUNCTS.iter().find(|p| src[i..].starts_with(**p)) {
            out.push((Tok::Punct(p), start));
            i += p.len();
        } else {
            let ch = src[i..].chars().next().unwrap_or('?');
            return Err(format!("unexpected character `{ch}` at column {}", i + 1));
        }
    }
    Ok(out)
}

/// One escape sequence after a backslash at `i`; returns the char and the next index.
fn escape(src: &str, i: usize) -> Result<(char, usize), String> {
    let c = src[i..].chars().next().ok_or("unterminated escape")?;
    let simple = match c {
        'n' => Some('\n'),
        't' => Some('\t'),
        'r' => Some('\r'),
        '0' => Some('\0'),
        '\\' => Some('\\'),
        '"' => Some('"'),
        '\'' => Some('\''),
        _ => None,
    };
    if let Some(s) = simple {
        return Ok((s, i + 1));
    }
    if c == 'u' {
        let hex = src.get(i + 1..i + 5).ok_or("bad \\u escape")?;
        let ch = u32::from_str_radix(hex, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| format!("bad escape \\u{hex}"))?;
        return Ok((ch, i + 5));
    }
    Err(format!("unsupported escape `\\{c}`"))
}

/// A regular string from just after its opening quote; returns it and the index after it.
fn quoted(src: &str, mut i: usize) -> Result<(String, usize), String> {
    let mut s = String::new();
    while let Some(c) = src[i..].chars().next() {
        match c {
            '"' => return Ok((s, i + 1)),
            '\\' => {
                let (ch, next) = escape(src, i + 1)?;
                s.push(ch);
                i = next;
            }
            _ => {
                s.push(c);
                i += c.len_utf8();
            }
        }
    }
    Err("unterminated string literal".into())
}

fn verbatim(src: &str, mut i: usize) -> Result<(String, usize), String> {
    let mut s = String::new();
    while let Some(c) = src[i..].chars().next() {
        if c == '"' {
            if src[i + 1..].starts_with('"') {
                s.push('"');
                i += 2;
                continue;
            }
            return Ok((s, i + 1));
        }
        s.push(c);
        i += c.len_utf8();
    }
    Err("unterminated verbatim string".into())
}

fn char_literal(src: &str, i: usize) -> Result<(String, usize), String> {
    let c = src[i..].chars().next().ok_or("unterminated char literal")?;
    let (ch, next) = if c == '\\' {
        escape(src, i + 1)?
    } else {
        (c, i + c.len_utf8())
    };
    if !src[next..].starts_with('\'') {
        return Err("a char literal holds one character".into());
    }
    Ok((ch.to_string(), next + 1))
}

fn interpolated(src: &str, mut i: usize) -> Result<(Vec<Piece>, usize), String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    while let Some(c) = src[i..].chars().next() {
        match c {
            '"' => {
                if !text.is_empty() {
                    pieces.push(Piece::Text(text));
                }
                return Ok((pieces, i + 1));
            }
            '\\' => {
                let (ch, next) = escape(src, i + 1)?;
                text.push(ch);
                i = next;
            }
            '{' if src[i + 1..].starts_with('{') => {
                text.push('{');
                i += 2;
            }
            '}' if src[i + 1..].starts_with('}') => {
                text.push('}');
                i += 2;
            }
            '{' => {
                let end = hole_end(src, i + 1)?;
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Hole {
                    src: src[i + 1..end].to_string(),
                    at: i + 1,
                });
                i = end + 1;
            }
            _ => {
                text.push(c);
                i += c.len_utf8();
            }
        }
    }
    Err("unterminated interpolated string".into())
}

/// The index of the `}` closing a hole that starts at `i`, skipping nested strings.
fn hole_end(src: &str, mut i: usize) -> Result<usize, String> {
    let mut depth = 0;
    while let Some(c) = src[i..].chars().next() {
        match c {
            '"' => i = quoted(src, i + 1)?.1,
            '\'' => i = char_literal(src, i + 1)?.1,
            '{' | '(' => {
                depth += 1;
                i += 1;
            }
            ')' => {
                depth -= 1;
                i += 1;
            }
            '}' if depth == 0 => return Ok(i),
            '}' => {
                depth -= 1;
                i += 1;
            }
            ':' if depth == 0 => {
                return Err("format specifiers in interpolation holes ({x:F2}) are not supported by the stand-in's expressions".into());
            }
            _ => i += c.len_utf8(),
        }
    }
    Err("unterminated interpolation hole".into())
}
