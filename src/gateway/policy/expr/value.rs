//! Run-time values of expressions and their C# `ToString()` forms (including
//! `DateTime.ToString(format)` with the common format letters).

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::ast::{Dict, Obj};

/// A value an expression computes. Cheap to clone (strings are shared).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Str(Arc<str>),
    Int(i64),
    Double(f64),
    Bool(bool),
    StrArray(Arc<[String]>),
    Bytes(Arc<[u8]>),
    DateTime(OffsetDateTime),
    Guid(u128),
    TimeSpan(Duration),
    /// The claims of a token read by `AsJwt()`.
    Jwt(Arc<serde_json::Map<String, serde_json::Value>>),
    /// A context object; its data is read from the request when a member is used.
    Obj(Obj),
    /// A context dictionary (headers, query, variables…), read the same way.
    Dict(Dict),
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(Arc::from(s))
    }
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<Arc<str>>) -> Self {
        Value::Str(s.into())
    }

    /// The C# type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Str(_) => "string",
            Value::Int(_) => "int",
            Value::Double(_) => "double",
            Value::Bool(_) => "bool",
            Value::StrArray(_) => "string[]",
            Value::Bytes(_) => "byte[]",
            Value::DateTime(_) => "DateTime",
            Value::Guid(_) => "Guid",
            Value::TimeSpan(_) => "TimeSpan",
            Value::Jwt(_) => "Jwt",
            Value::Obj(_) | Value::Dict(_) => "object",
        }
    }

    /// What C# `ToString()` (or string concatenation) makes of the value; null is "".
    pub fn to_text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Double(d) => d.to_string(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::StrArray(_) => "System.String[]".into(),
            Value::Bytes(_) => "System.Byte[]".into(),
            Value::DateTime(t) => format_date(t, "M/d/yyyy h:mm:ss tt").unwrap_or_default(),
            Value::Guid(g) => guid_text(*g),
            Value::TimeSpan(d) => {
                let s = d.as_secs();
                format!(
                    "{:02}:{:02}:{:02}.{:07}",
                    s / 3600,
                    s / 60 % 60,
                    s % 60,
                    d.subsec_nanos() / 100
                )
            }
            Value::Jwt(_) => "Jwt".into(),
            Value::Obj(_) | Value::Dict(_) => "object".into(),
        }
    }
}

/// A new random (version 4) GUID.
pub fn new_guid() -> u128 {
    let g: u128 = rand::random();
    (g & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62)
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, as `Guid.ToString()`.
fn guid_text(g: u128) -> String {
    let h = format!("{g:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `DateTime.ToString(format)` for a UTC time: the standard formats `o O r R s u` and
/// custom formats made of `yyyy yy MMMM MMM MM M dddd ddd dd d HH H hh h mm m ss s f…
/// tt K zzz`, quoted literals and `\x`; other letters are copied as C# does.
pub fn format_date(t: &OffsetDateTime, format: &str) -> Result<String, String> {
    let custom = match format {
        "o" | "O" => "yyyy-MM-ddTHH:mm:ss.fffffffK",
        "r" | "R" => "ddd, dd MMM yyyy HH:mm:ss 'GMT'",
        "s" => "yyyy-MM-ddTHH:mm:ss",
        "u" => "yyyy-MM-dd HH:mm:ssZ",
        f if f.chars().count() == 1 => {
            return Err(format!(
                "DateTime format \"{f}\" is not supported by the stand-in's expressions \
                 (use o, r, s, u or a custom format such as yyyyMMddTHHmmssZ)"
            ));
        }
        f => f,
    };
    let chars: Vec<char> = custom.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|x| **x == c).count();
        let hour12 = (t.hour() + 11) % 12 + 1;
        match c {
            'y' if run >= 3 => out.push_str(&format!("{:04}", t.year())),
            'y' if run == 2 => out.push_str(&format!("{:02}", t.year() % 100)),
            'y' => out.push_str(&(t.year() % 100).to_string()),
            'M' if run >= 4 => out.push_str(MONTHS[u8::from(t.month()) as usize - 1]),
            'M' if run == 3 => out.push_str(&MONTHS[u8::from(t.month()) as usize - 1][..3]),
            'M' => pad(&mut out, u8::from(t.month()).into(), run),
            'd' if run >= 4 => {
                out.push_str(DAYS[t.weekday().number_days_from_monday() as usize]);
            }
            'd' if run == 3 => {
                out.push_str(&DAYS[t.weekday().number_days_from_monday() as usize][..3]);
            }
            'd' => pad(&mut out, t.day().into(), run),
            'H' => pad(&mut out, t.hour().into(), run),
            'h' => pad(&mut out, hour12.into(), run),
            'm' => pad(&mut out, t.minute().into(), run),
            's' => pad(&mut out, t.second().into(), run),
            'f' | 'F' if run <= 7 => {
                let digits = format!("{:09}", t.nanosecond());
                out.push_str(&digits[..run]);
            }
            't' => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
            'K' => out.push('Z'),
            'z' => out.push_str("+00:00"),
            '\'' | '"' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|x| *x == c)
                    .ok_or("unterminated quoted text in a DateTime format")?;
                out.extend(&chars[i + 1..i + 1 + end]);
                i += end + 2;
                continue;
            }
            '\\' => {
                out.extend(chars.get(i + 1));
                i += 2;
                continue;
            }
            _ => {
                out.push(c);
                i += 1;
                continue;
            }
        }
        i += run;
    }
    Ok(out)
}

fn pad(out: &mut String, v: u32, width: usize) {
    out.push_str(&format!("{v:0width$}", width = width.min(2)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_like_dotnet() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
            + Duration::from_millis(123);
        assert_eq!(
            format_date(&t, "yyyyMMddTHHmmssZ").unwrap(),
            "20231114T221320Z"
        );
        assert_eq!(
            format_date(&t, "o").unwrap(),
            "2023-11-14T22:13:20.1230000Z"
        );
        assert_eq!(
            format_date(&t, "r").unwrap(),
            "Tue, 14 Nov 2023 22:13:20 GMT"
        );
        assert_eq!(
            format_date(&t, "yyyy-M-d h tt").unwrap(),
            "2023-11-14 10 PM"
        );
        assert!(format_date(&t, "D").is_err());
    }

    #[test]
    fn guids_are_version_4() {
        let g = guid_text(new_guid());
        assert_eq!(g.len(), 36);
        assert_eq!(&g[14..15], "4");
        assert!(matches!(&g[19..20], "8" | "9" | "a" | "b"), "{g}");
    }
}
