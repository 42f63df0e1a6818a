//! `${VAR}` references in scenario strings, resolved from the environment.
//!
//! Secrets enter scenarios only this way. An unset variable is an error, never an empty
//! string, and the error names the variable but not any value.

/// Replaces every `${NAME}` in `text` with `env(NAME)`; `$$` stands for a literal `$`.
pub fn interpolate(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or("unclosed `${`")?;
            let name = &body[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "`${{{name}}}` is not a variable name (letters, digits, '_')"
                ));
            }
            let value =
                env(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "KEY").then(|| "s3cr$t".to_string())
    }

    #[test]
    fn replaces_variables_and_escapes() {
        assert_eq!(interpolate("a-${KEY}-b", &env).unwrap(), "a-s3cr$t-b");
        assert_eq!(interpolate("$$5 and $x", &env).unwrap(), "$5 and $x");
    }

    #[test]
    fn unset_and_malformed_are_errors() {
        assert_eq!(
            interpolate("${NOPE}", &env).unwrap_err(),
            "environment variable NOPE is not set"
        );
        assert!(interpolate("${KEY", &env).is_err());
        assert!(interpolate("${A B}", &env).is_err());
    }
}
