//! [`Secret`]: a value that is never printed, logged or serialised, and is registered
//! with [`crate::redact`] so it is masked even when a server echoes it back.

use std::fmt;

use serde::Serialize;

/// A value that must never be printed, logged or written to results.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value and registers it, so it is masked wherever it would show.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        crate::redact::register(&value);
        Secret(value)
    }

    /// The secret itself, for the one place that needs it (signing).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}
