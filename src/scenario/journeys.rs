//! `[load] executor = "journeys"` and `[journeys.NAME]`: checked into a
//! [`JourneyLoad`] and the mix its steps use (one mix entry per step, where a LIST
//! step's options live).

use std::time::Duration;

use serde_spanned::Spanned;

use super::bounds::{MAX_IN_FLIGHT, MAX_NAME_CHARS, MAX_OPS, WHY_IN_FLIGHT, WHY_OPS};
use super::file::{JourneySection, OpEntry, ScenarioFile, StepSection};
use super::{Checked, Validator, parse_size, weight};
use crate::plan::journey::{
    Journey, JourneyLoad, JourneyStep, MAX_STEP_COUNT, MAX_STEPS, StepKeys, ThinkTime,
};
use crate::plan::size::MAX_OBJECT_BYTES;
use crate::plan::{DataSet, LoadModel, MixEntry, OpKind};

/// The fields `journeys` takes.
pub(super) const FIELDS: &[&str] = &["users", "hatch_rate", "iterations"];

/// Longest think time.
const MAX_THINK_TIME: Duration = Duration::from_secs(3600);

impl Validator<'_> {
    /// `executor = "journeys"`: users, hatch rate and iterations (the journeys
    /// themselves come from `[journeys.*]`, see [`journeys_or_mix`](Self::journeys_or_mix)).
    pub(super) fn journey_load(&self, l: &super::file::LoadSection) -> Checked<JourneyLoad> {
        let users = l.users.as_ref().ok_or_else(|| self.missing(l, "users"))?;
        let users = self.count(users, "load.users", 1, MAX_IN_FLIGHT, WHY_IN_FLIGHT)? as usize;
        let iterations = l
            .iterations
            .as_ref()
            .ok_or_else(|| self.missing(l, "iterations"))?;
        let iterations = self.count(iterations, "load.iterations", 1, MAX_OPS, WHY_OPS)?;
        let hatch_rate = match &l.hatch_rate {
            Some(_) => self.rate(l, &l.hatch_rate, "hatch_rate", false)?,
            None => users as f64,
        };
        Ok(JourneyLoad {
            users,
            hatch_rate,
            iterations,
            journeys: Vec::new(),
        })
    }

    /// The journeys of a `journeys` load and the mix their steps use; for any other
    /// load, `[mix]`.
    pub(super) fn journeys_or_mix(
        &self,
        load: LoadModel,
        f: &ScenarioFile,
        data: &DataSet,
    ) -> Checked<(LoadModel, Vec<MixEntry>)> {
        let LoadModel::Journeys(mut load) = load else {
            if let Some(j) = &f.journeys {
                return Err(self.err(
                    j.span(),
                    "journeys",
                    "[journeys.*] are run by `executor = \"journeys\"`; set it in [load] or remove them",
                ));
            }
            // Placed at the executor, which is what needs a mix.
            let Some(mix) = &f.mix else {
                return Err(self.err(
                    f.load.executor.span(),
                    "mix",
                    "missing [mix]: give each operation a weight",
                ));
            };
            return Ok((load, self.mix(mix, data)?));
        };
        if let Some(m) = &f.mix {
            return Err(self.err(
                m.span(),
                "mix",
                "journeys send what their steps say; remove [mix]",
            ));
        }
        let table = match &f.journeys {
            Some(t) if !t.get_ref().is_empty() => t,
            _ => {
                return Err(self.err(
                    f.load.executor.span(),
                    "journeys",
                    "journeys needs at least one [journeys.NAME] with its steps",
                ));
            }
        };
        let mut mix = Vec::new();
        let mut total = 0;
        for (name, section) in table.get_ref() {
            let journey = self.journey(name, section, data, total, &mut mix)?;
            total += journey.weight;
            load.journeys.push(journey);
        }
        Ok((LoadModel::Journeys(load), mix))
    }

    /// `[journeys.NAME]`, its steps' mix entries added to `mix`.
    fn journey(
        &self,
        name: &str,
        section: &Spanned<JourneySection>,
        data: &DataSet,
        total_weight: u32,
        mix: &mut Vec<MixEntry>,
    ) -> Checked<Journey> {
        let field = format!("journeys.{name}");
        let j = section.get_ref();
        if name.is_empty()
            || name.len() > MAX_NAME_CHARS
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.err(
                section.span(),
                &field,
                format!("name journeys with up to {MAX_NAME_CHARS} letters, digits, '-' or '_'"),
            ));
        }
        let weight = match &j.weight {
            Some(w) => match weight(*w.get_ref(), total_weight) {
                Ok(0) => Err("must be > 0".to_string()),
                other => other,
            }
            .map_err(|why| self.err(w.span(), &format!("{field}.weight"), why))?,
            None => 1,
        };
        let think_time = match &j.think_time {
            Some(t) => self.think_time(t, &format!("{field}.think_time"))?,
            None => ThinkTime {
                min: Duration::ZERO,
                max: Duration::ZERO,
            },
        };
        let steps = j.steps.get_ref();
        if !(1..=MAX_STEPS).contains(&steps.len()) {
            return Err(self.err(
                j.steps.span(),
                &format!("{field}.steps"),
                format!("give 1 to {MAX_STEPS} steps"),
            ));
        }
        let mut checked: Vec<JourneyStep> = Vec::new();
        let mut puts_not_deleted = 0u64;
        for (i, step) in steps.iter().enumerate() {
            let field = format!("{field}.steps[{i}]");
            let s = self.step(step, &field, data, &checked, mix)?;
            match s.op {
                OpKind::Put => puts_not_deleted += 1,
                OpKind::Delete if puts_not_deleted == 0 => {
                    return Err(self.err(
                        step.span(),
                        &field,
                        "a delete removes what its journey put: put something in an earlier step",
                    ));
                }
                OpKind::Delete => puts_not_deleted -= 1,
                _ => {}
            }
            checked.push(s);
        }
        Ok(Journey {
            name: name.to_string(),
            weight,
            think_time,
            steps: checked,
        })
    }

    /// One step, after the `earlier` ones of its journey; its mix entry goes to `mix`.
    fn step(
        &self,
        step: &Spanned<StepSection>,
        field: &str,
        data: &DataSet,
        earlier: &[JourneyStep],
        mix: &mut Vec<MixEntry>,
    ) -> Checked<JourneyStep> {
        let s = step.get_ref();
        let op = match s.op.get_ref().as_str() {
            "put" => OpKind::Put,
            "get" => OpKind::Get,
            "head" => OpKind::Head,
            "list" => OpKind::List,
            "delete" => OpKind::Delete,
            other => {
                return Err(self.err(
                    s.op.span(),
                    &format!("{field}.op"),
                    format!(
                        "unknown op {other:?}; expected \"list\", \"get\", \"head\", \"put\" or \"delete\""
                    ),
                ));
            }
        };
        let reads = matches!(op, OpKind::Get | OpKind::Head);
        let only = |value: Option<std::ops::Range<usize>>, name: &str, ops: &str| match value {
            Some(span) => Err(self.err(
                span,
                &format!("{field}.{name}"),
                format!("`{name}` applies to {ops} only"),
            )),
            None => Ok(()),
        };
        if !reads {
            only(s.from.as_ref().map(|v| v.span()), "from", "get and head")?;
            only(s.count.as_ref().map(|v| v.span()), "count", "get and head")?;
        }
        if op != OpKind::Put {
            only(s.size.as_ref().map(|v| v.span()), "size", "put")?;
        }
        let keys = match (
            op,
            s.from.as_ref().map(|f| (f.get_ref().as_str(), f.span())),
        ) {
            (OpKind::List, _) => StepKeys::Bucket,
            (OpKind::Put | OpKind::Delete, _) => StepKeys::Written,
            (_, None | Some(("seeded", _))) => StepKeys::Seeded,
            (_, Some(("listed", span))) => {
                if !earlier.iter().any(|e| e.op == OpKind::List) {
                    return Err(self.err(
                        span,
                        &format!("{field}.from"),
                        "reads from what a list returned: add a list step before it",
                    ));
                }
                StepKeys::Listed
            }
            (_, Some((other, span))) => {
                return Err(self.err(
                    span,
                    &format!("{field}.from"),
                    format!("unknown {other:?}; expected \"seeded\" or \"listed\""),
                ));
            }
        };
        if keys == StepKeys::Seeded && data.objects == 0 {
            return Err(self.err(
                step.span(),
                field,
                "reads need a seeded read set: set data.objects > 0 (or read from = \"listed\")",
            ));
        }
        let count = match &s.count {
            Some(c) => self.count(
                c,
                &format!("{field}.count"),
                1,
                u64::from(MAX_STEP_COUNT),
                "one step is one burst of a user's requests",
            )? as u32,
            None => 1,
        };
        let size = match &s.size {
            Some(v) => {
                let size = parse_size(v.get_ref())
                    .and_then(|b| match b {
                        b if b > MAX_OBJECT_BYTES => {
                            Err(format!("must be at most {MAX_OBJECT_BYTES} bytes"))
                        }
                        b => Ok(b),
                    })
                    .map_err(|why| self.err(v.span(), &format!("{field}.size"), why))?;
                Some(size)
            }
            None => None,
        };
        let options = OpEntry {
            weight: 1,
            max_keys: s.max_keys.as_ref().map(|v| *v.get_ref()),
            prefix: s.prefix.as_ref().map(|v| v.get_ref().clone()),
            delimiter: s.delimiter.as_ref().map(|v| v.get_ref().clone()),
            ..OpEntry::default()
        };
        mix.push(self.mix_entry(op, 1, &options, step.span(), field)?);
        Ok(JourneyStep {
            op,
            keys,
            count,
            size,
            mix_entry: mix.len() - 1,
        })
    }

    /// `"100ms"` or `"50ms..200ms"`.
    fn think_time(&self, t: &Spanned<String>, field: &str) -> Checked<ThinkTime> {
        let text = t.get_ref();
        let (min, max) = text.split_once("..").unwrap_or((text, text));
        let min = self.duration_at(min, t.span(), field, MAX_THINK_TIME)?;
        let max = self.duration_at(max, t.span(), field, MAX_THINK_TIME)?;
        if min > max {
            return Err(self.err(t.span(), field, "the range must run from low to high"));
        }
        Ok(ThinkTime { min, max })
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::LoadModel;
    use crate::plan::journey::StepKeys;

    /// A journeys scenario with `load` extra lines and `steps`, parsed.
    fn parse(load: &str, steps: &str, extra: &str) -> Result<crate::plan::Plan, String> {
        let text = format!(
            "name = \"j\"\n[run]\n[load]\nexecutor = \"journeys\"\n{load}\n\
             [data]\nbuckets = [\"bkt\"]\nobjects = 5\nsize = \"1KiB\"\n{extra}\n\
             [journeys.a]\nsteps = [{steps}]\n[targets.local]\nkind = \"embedded\"\n"
        );
        crate::scenario::parse(std::path::Path::new("j.toml"), &text, &|_| None)
            .map_err(|e| e.to_string())
    }

    const LOAD: &str = "users = 2\niterations = 3";

    #[test]
    fn steps_become_mix_entries_and_keys() {
        let plan = parse(
            LOAD,
            "{ op = \"list\", max_keys = 7 }, { op = \"get\", from = \"listed\", count = 2 }, \
             { op = \"head\" }, { op = \"put\" }, { op = \"delete\" }",
            "",
        )
        .unwrap();
        let LoadModel::Journeys(j) = &plan.load else {
            panic!()
        };
        assert_eq!((j.users, j.iterations, j.hatch_rate), (2, 3, 2.0));
        let steps = &j.journeys[0].steps;
        let keys: Vec<StepKeys> = steps.iter().map(|s| s.keys).collect();
        use StepKeys::*;
        assert_eq!(keys, [Bucket, Listed, Seeded, Written, Written]);
        assert_eq!(steps[1].count, 2);
        assert_eq!(plan.mix.len(), 5);
        assert_eq!(plan.mix[steps[0].mix_entry].max_keys, Some(7));
    }

    #[test]
    fn bad_journeys_are_refused_with_their_field() {
        let cases = [
            (
                LOAD,
                "{ op = \"delete\" }",
                "",
                "journeys.a.steps[0]: a delete",
            ),
            (
                LOAD,
                "{ op = \"get\", from = \"listed\" }",
                "",
                "journeys.a.steps[0].from: reads from what a list returned",
            ),
            (
                LOAD,
                "{ op = \"list\", size = \"1KiB\" }",
                "",
                "steps[0].size",
            ),
            (LOAD, "{ op = \"copy\" }", "", "steps[0].op: unknown op"),
            (
                LOAD,
                "{ op = \"get\" }",
                "[mix]\nget = 1",
                "mix: journeys send",
            ),
            (
                "users = 2",
                "{ op = \"get\" }",
                "",
                "load.iterations: journeys needs",
            ),
            (
                "users = 2\niterations = 1\nconcurrency = 3",
                "{ op = \"get\" }",
                "",
                "load.concurrency: journeys does not take",
            ),
        ];
        for (load, steps, extra, expected) in cases {
            let err = parse(load, steps, extra).unwrap_err();
            assert!(err.contains(expected), "{steps}: {err}");
        }
    }
}
