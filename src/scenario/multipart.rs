//! Validation of `[mix] multipart = { weight, size, part_size, parallel_parts }`: S3's
//! part limits (at least 5 MiB per part but the last, at most 5 GiB; objects of at most
//! 5 GiB then never need more than 10,000 parts) and a cap on parts in flight, each
//! error naming file, line and field.

use serde_spanned::Spanned;

use super::file::MultipartEntry;
use super::{Checked, Validator, parse_size, weight};
use crate::plan::multipart::{MAX_PARALLEL_PARTS, MAX_PART_BYTES, MIN_PART_BYTES, MultipartSpec};
use crate::plan::s3_options::Checksum;
use crate::plan::{MixEntry, OpKind};

/// Part size when the entry names none.
const DEFAULT_PART_BYTES: u64 = 8 * 1024 * 1024;

/// Parts in flight when the entry names none.
const DEFAULT_PARALLEL_PARTS: u32 = 4;

impl Validator<'_> {
    /// The mix entry of `multipart = { … }` (`None` for weight 0); adds its weight to
    /// `total`, the sum of the mix's weights so far.
    pub(super) fn multipart(
        &self,
        entry: &Spanned<MultipartEntry>,
        total: &mut u32,
    ) -> Checked<Option<MixEntry>> {
        let e = entry.get_ref();
        let at = |field: &str, why: String| {
            self.err(entry.span(), &format!("mix.multipart.{field}"), why)
        };
        let w = weight(e.weight, *total).map_err(|why| at("weight", why))?;
        *total += w;
        let size = self.size(&e.size, "mix.multipart.size")?;
        let part_size = match &e.part_size {
            None => DEFAULT_PART_BYTES,
            Some(p) => {
                let err = |why: String| self.err(p.span(), "mix.multipart.part_size", why);
                let n = parse_size(p.get_ref()).map_err(err)?;
                if !(MIN_PART_BYTES..=MAX_PART_BYTES).contains(&n) {
                    return Err(err(format!(
                        "{:?} is outside S3's part sizes: 5MiB to 5GiB (only the last part of an upload may be smaller)",
                        p.get_ref()
                    )));
                }
                n
            }
        };
        let parallel_parts = match &e.parallel_parts {
            None => DEFAULT_PARALLEL_PARTS,
            Some(n) => u32::try_from(*n.get_ref())
                .ok()
                .filter(|n| (1..=MAX_PARALLEL_PARTS).contains(n))
                .ok_or_else(|| {
                    self.err(
                        n.span(),
                        "mix.multipart.parallel_parts",
                        format!("must be between 1 and {MAX_PARALLEL_PARTS}"),
                    )
                })?,
        };
        Ok((w > 0).then_some(MixEntry {
            op: OpKind::Multipart,
            weight: w,
            max_keys: None,
            prefix: None,
            delimiter: None,
            range: None,
            checksum: Checksum::None,
            multipart: Some(MultipartSpec {
                size,
                part_size,
                parallel_parts,
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::plan::size::SizeDist;
    use crate::plan::{OpKind, Plan};
    use crate::scenario::{ScenarioError, parse};

    /// A scenario whose mix is `put = 1` and `multipart = {entry}` (on line 11).
    fn with(entry: &str) -> Result<Plan, ScenarioError> {
        let text = format!(
            "name = \"m\"\n[run]\nops = 1\n[load]\nexecutor = \"closed-loop\"\nconcurrency = 1\n\
             [data]\nbuckets = [\"bkt\"]\nsize = \"4KiB\"\n[mix]\nmultipart = {entry}\nput = 1\n\
             [targets.rgw]\nkind = \"embedded\"\n"
        );
        parse(Path::new("scenarios/m.toml"), &text, &|_| None)
    }

    #[test]
    fn an_entry_takes_sizes_in_every_form_and_defaults_its_parts() {
        let plan = with("{ weight = 3, size = \"64MiB\" }").unwrap();
        // After the single-request ops: existing mixes keep their order (and sequences).
        let entry = &plan.mix[1];
        assert_eq!(entry.op, OpKind::Multipart);
        assert_eq!(entry.weight, 3);
        let spec = entry.multipart.as_ref().unwrap();
        assert_eq!((spec.part_size, spec.parallel_parts), (8 << 20, 4));
        assert!(matches!(spec.size, SizeDist::Fixed(n) if n == 64 << 20));
        let plan = with(
            "{ weight = 1, size = { lognormal = { median = \"20MiB\", p99 = \"1GiB\" } }, \
             part_size = \"5MiB\", parallel_parts = 64 }",
        )
        .unwrap();
        let spec = plan.mix[1].multipart.as_ref().unwrap();
        assert_eq!((spec.part_size, spec.parallel_parts), (5 << 20, 64));
        assert!(matches!(spec.size, SizeDist::Lognormal { .. }));
        assert!(with("{ weight = 0, size = \"1MiB\" }").unwrap().mix.len() == 1);
    }

    #[test]
    fn parts_outside_s3s_limits_are_refused_with_file_line_and_field() {
        for (entry, field, says) in [
            (
                "{ weight = 1, size = \"64MiB\", part_size = \"4MiB\" }",
                "mix.multipart.part_size",
                "5MiB to 5GiB",
            ),
            (
                "{ weight = 1, size = \"64MiB\", part_size = \"6GiB\" }",
                "mix.multipart.part_size",
                "5MiB to 5GiB",
            ),
            (
                "{ weight = 1, size = \"64MiB\", part_size = \"lots\" }",
                "mix.multipart.part_size",
                "is not a size",
            ),
            (
                "{ weight = 1, size = \"64MiB\", parallel_parts = 0 }",
                "mix.multipart.parallel_parts",
                "between 1 and 64",
            ),
            (
                "{ weight = 1, size = \"64MiB\", parallel_parts = 65 }",
                "mix.multipart.parallel_parts",
                "between 1 and 64",
            ),
            (
                "{ weight = 1, size = \"6GiB\" }",
                "mix.multipart.size",
                "5 GiB",
            ),
            (
                "{ weight = -1, size = \"6MiB\" }",
                "mix.multipart.weight",
                ">= 0",
            ),
        ] {
            let e = with(entry).unwrap_err();
            assert_eq!(
                (e.line, e.field.as_str()),
                (Some(11), field),
                "{entry}: {e}"
            );
            assert!(e.message.contains(says), "{entry}: {e}");
            assert!(e.to_string().starts_with("scenarios/m.toml:11:"), "{e}");
        }
        let e = with("{ weight = 1 }").unwrap_err();
        assert!(e.to_string().contains("size"), "{e}");
        let e = with("{ weight = 1, size = \"8MiB\", parts = 2 }").unwrap_err();
        assert!(e.to_string().contains("parts"), "{e}");
    }

    #[test]
    fn thresholds_may_name_the_upload_and_its_parts() {
        let entry = "{ weight = 1, size = \"16MiB\" }";
        let rules = "thresholds = [\"rgw.multipart.p99 < 2s\", \"rgw.part.p50 < 500ms\"]\n";
        // `thresholds` is a top-level key: it comes before the first table.
        let plan = parse(
            Path::new("scenarios/m.toml"),
            &format!(
                "name = \"m\"\n{rules}[run]\nops = 1\n[load]\nexecutor = \"closed-loop\"\n\
                 concurrency = 1\n[data]\nbuckets = [\"bkt\"]\nsize = \"4KiB\"\n[mix]\nmultipart = {entry}\n\
                 [targets.rgw]\nkind = \"embedded\"\n"
            ),
            &|_| None,
        )
        .unwrap();
        assert_eq!(plan.thresholds.len(), 2);
        let without = parse(
            Path::new("scenarios/m.toml"),
            "name = \"m\"\nthresholds = [\"rgw.part.p50 < 500ms\"]\n[run]\nops = 1\n[load]\n\
             executor = \"closed-loop\"\nconcurrency = 1\n[data]\nbuckets = [\"bkt\"]\nsize = \"1KiB\"\n\
             [mix]\nput = 1\n[targets.rgw]\nkind = \"embedded\"\n",
            &|_| None,
        );
        assert!(without.is_err(), "no parts without uploads");
    }
}
