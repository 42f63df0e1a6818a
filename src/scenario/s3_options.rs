//! Reading the per-request S3 options of a scenario: `range` of `get`, `checksum` of
//! `put` (in `[mix]`) and `addressing` of an s3 target.
//!
//! Each function returns the plan's value or the message for the field it names; the
//! caller (`scenario`) adds file, line and field.

use super::file::OpEntry;
use super::parse_size;
use crate::plan::OpKind;
use crate::plan::s3_options::{Addressing, Checksum, RangeSpec};
use crate::plan::size::MAX_OBJECT_BYTES;

/// A mix entry's `range` and `checksum`, or (the field at fault, why).
pub fn mix_options(
    op: OpKind,
    e: &OpEntry,
) -> Result<(Option<RangeSpec>, Checksum), (&'static str, String)> {
    if e.range.is_some() && op != OpKind::Get {
        return Err(("range", "`range` applies to `get` only".into()));
    }
    if e.checksum.is_some() && op != OpKind::Put {
        return Err(("checksum", "`checksum` applies to `put` only".into()));
    }
    let range = e
        .range
        .as_deref()
        .map(range)
        .transpose()
        .map_err(|why| ("range", why))?;
    let checksum = e
        .checksum
        .as_deref()
        .map(checksum)
        .transpose()
        .map_err(|why| ("checksum", why))?
        .unwrap_or_default();
    Ok((range, checksum))
}

/// `first:1MiB` or `random:64KiB`.
fn range(text: &str) -> Result<RangeSpec, String> {
    let expected =
        || format!("{text:?}: expected \"first:SIZE\" or \"random:SIZE\", e.g. \"first:1MiB\"");
    let (how, size) = text.split_once(':').ok_or_else(expected)?;
    let n = parse_size(size)?;
    if n == 0 || n > MAX_OBJECT_BYTES {
        return Err(format!(
            "the range length must be between 1 byte and {MAX_OBJECT_BYTES} bytes"
        ));
    }
    match how.trim() {
        "first" => Ok(RangeSpec::First(n)),
        "random" => Ok(RangeSpec::Random(n)),
        _ => Err(expected()),
    }
}

/// `none`, `crc32c` or `sha256`.
fn checksum(text: &str) -> Result<Checksum, String> {
    match text {
        "none" => Ok(Checksum::None),
        "crc32c" => Ok(Checksum::Crc32c),
        "sha256" => Ok(Checksum::Sha256),
        other => Err(format!(
            "unknown checksum {other:?}; expected \"none\", \"crc32c\" or \"sha256\""
        )),
    }
}

/// `path` or `virtual`.
pub fn addressing(text: &str) -> Result<Addressing, String> {
    match text {
        "path" => Ok(Addressing::Path),
        "virtual" => Ok(Addressing::Virtual),
        other => Err(format!(
            "unknown addressing {other:?}; expected \"path\" or \"virtual\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_first_and_random_with_sizes() {
        assert_eq!(range("first:1MiB"), Ok(RangeSpec::First(1 << 20)));
        assert_eq!(range("random:64KiB"), Ok(RangeSpec::Random(64 << 10)));
        assert_eq!(range("random:100"), Ok(RangeSpec::Random(100)));
        for bad in ["first", "last:1KiB", "first:0", "random:lots", "first:1TiB"] {
            assert!(range(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn options_apply_to_their_own_op_only() {
        let get = OpEntry {
            weight: 1,
            range: Some("first:1KiB".into()),
            ..OpEntry::default()
        };
        assert_eq!(
            mix_options(OpKind::Get, &get),
            Ok((Some(RangeSpec::First(1024)), Checksum::None))
        );
        assert_eq!(mix_options(OpKind::Put, &get).unwrap_err().0, "range");
        let put = OpEntry {
            weight: 1,
            checksum: Some("crc32c".into()),
            ..OpEntry::default()
        };
        assert_eq!(mix_options(OpKind::Put, &put), Ok((None, Checksum::Crc32c)));
        assert_eq!(mix_options(OpKind::Head, &put).unwrap_err().0, "checksum");
        let bad = OpEntry {
            weight: 1,
            checksum: Some("md5".into()),
            ..OpEntry::default()
        };
        assert!(
            mix_options(OpKind::Put, &bad)
                .unwrap_err()
                .1
                .contains("md5")
        );
        assert_eq!(addressing("virtual"), Ok(Addressing::Virtual));
        assert!(addressing("host").is_err());
    }

    /// A scenario with `mix` lines and an s3 target with `target` lines added.
    fn scenario(mix: &str, target: &str) -> Result<crate::plan::Plan, super::super::ScenarioError> {
        let text = format!(
            "name = \"o\"\n[run]\nops = 1\n[load]\nexecutor = \"closed-loop\"\nconcurrency = 1\n\
             [data]\nbuckets = [\"bkt\"]\nobjects = 1\nsize = \"4KiB\"\n[mix]\n{mix}\n\
             [targets.rgw]\nkind = \"s3\"\nendpoint = \"http://localhost:7480\"\n\
             access_key = \"a\"\nsecret_key = \"${{SK}}\"\n{target}\n\
             [targets.apim]\nkind = \"embedded-gateway\"\nsetup_via = \"rgw\"\n"
        );
        super::super::parse(std::path::Path::new("o.toml"), &text, &|_| Some("s".into()))
    }

    #[test]
    fn the_plan_carries_the_options_and_errors_name_their_field_and_line() {
        let plan = scenario(
            "get = { weight = 1, range = \"random:64KiB\" }\nput = { weight = 1, checksum = \"sha256\" }",
            "addressing = \"virtual\"",
        )
        .unwrap();
        assert_eq!(plan.mix[0].checksum, Checksum::Sha256);
        assert_eq!(plan.mix[1].range, Some(RangeSpec::Random(64 << 10)));
        let rgw = plan.targets.iter().find(|t| t.name == "rgw").unwrap();
        assert_eq!(rgw.addressing, Addressing::Virtual);
        let apim = plan.targets.iter().find(|t| t.name == "apim").unwrap();
        assert_eq!(apim.addressing, Addressing::Path);

        let e = scenario("get = { weight = 1, range = \"middle:1KiB\" }", "").unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.line),
            ("mix.get.range", Some(12)),
            "{e}"
        );
        let e = scenario("head = { weight = 1, range = \"first:1KiB\" }", "").unwrap_err();
        assert_eq!(e.field, "mix.head.range", "{e}");
        let e = scenario("put = { weight = 1, checksum = \"md5\" }", "").unwrap_err();
        assert_eq!(e.field, "mix.put.checksum", "{e}");
        let e = scenario("get = 1", "addressing = \"dns\"").unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.line),
            ("targets.rgw.addressing", Some(18)),
            "{e}"
        );
        // Only s3 targets take it.
        let text = std::fs::read_to_string("scenarios/rgw-ranges.toml").unwrap();
        let text = text.replace(
            "setup_via = \"rgw\"",
            "setup_via = \"rgw\"\naddressing = \"virtual\"",
        );
        let e = super::super::parse(std::path::Path::new("r.toml"), &text, &|_| Some("s".into()))
            .unwrap_err();
        assert_eq!(e.field, "targets.apim.addressing", "{e}");
    }
}
