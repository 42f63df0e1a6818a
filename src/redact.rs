//! Masks secret values in text that leaves the process (results files, console lines,
//! error messages), wherever they appear: servers echo them back (a token endpoint's
//! `error_description` quoting the request body, say), so keeping them out of our own
//! formatting is not enough.
//!
//! Every [`crate::shared::Secret`] registers its value here when it is made, and so does
//! every access token fetched; [`redact`] replaces each registered value, and its
//! percent-encoded and JSON-escaped forms, with `<redacted>`. A leaf: imports nothing of
//! the crate.

use std::sync::RwLock;

/// What a masked value is replaced with.
pub const MASK: &str = "<redacted>";

/// Values shorter than this are not masked: they would mask ordinary words.
const MIN_LEN: usize = 4;

/// Every form of every registered secret, longest first.
static FORMS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers `secret`: from now on [`redact`] masks it.
pub fn register(secret: &str) {
    if secret.len() < MIN_LEN {
        return;
    }
    let mut forms = FORMS.write().unwrap_or_else(|e| e.into_inner());
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json.trim_matches('"').to_string();
    let form: String = serde_urlencoded::to_string([("", secret)])
        .unwrap_or_default()
        .trim_start_matches('=')
        .to_string();
    let percent = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    for f in [secret.to_string(), json, form, percent] {
        if f.len() >= MIN_LEN && !forms.contains(&f) {
            forms.push(f);
        }
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
}

/// `text` with every registered secret masked.
pub fn redact(text: &str) -> String {
    let forms = FORMS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for f in forms.iter() {
        if out.contains(f.as_str()) {
            out = out.replace(f.as_str(), MASK);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_secret_is_masked_in_every_form_a_server_may_echo() {
        let secret = "Sx9+q/w\"e=rt%z";
        register(secret);
        let echoed = format!(
            "invalid_client: body was client_secret={} ({}) json {} percent {}",
            serde_urlencoded::to_string([("", secret)])
                .unwrap()
                .trim_start_matches('='),
            secret,
            serde_json::to_string(secret).unwrap(),
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC),
        );
        let masked = redact(&echoed);
        assert!(!masked.contains("Sx9"), "{masked}");
        assert!(!masked.contains("q%2Fw"), "{masked}");
        assert_eq!(masked.matches(MASK).count(), 4, "{masked}");
        assert!(masked.starts_with("invalid_client: body was client_secret="));
    }

    #[test]
    fn short_values_are_left_alone() {
        register("ab");
        assert_eq!(redact("ab cd"), "ab cd");
    }
}
