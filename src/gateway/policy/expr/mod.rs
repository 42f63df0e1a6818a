//! APIM policy expressions (`@(…)` and `@{…}`), the C#-like subset real policies use.
//!
//! Owns lexing, parsing to a resolved tree at policy load time, and evaluating that tree
//! against one request's `Facts`. Every name, member, method and statement outside the
//! subset is a load-time error naming it; evaluation never panics (what C# would throw
//! is an `Err`). It knows nothing of policy elements: see `policy` for where
//! expressions are allowed and `pipeline` for when they run.
//!
//! The subset: literals (strings with C# escapes, `@"…"`, `$"…{x}…"`, chars, ints,
//! doubles, `true false null`), `+ - * / %`, comparisons, `&& || !`, `?:`, `??`, `?.`,
//! casts `(string) (int) (bool)`; in blocks `var`/`string`/`int`/`bool` declarations,
//! `if`/`else` and `return`. Names: `context.Request` (`Method`, `Url.{Path, Host,
//! Port, Scheme, QueryString, Query}`, `Headers`, `IpAddress`, `MatchedParameters`),
//! `context.Response` (`StatusCode`, `Headers`), `context.Subscription` (`Id`, `Name`,
//! `Key`), `context.Variables`, `context.Elapsed`, `context.RequestId`,
//! `context.Deployment.Region`; dictionaries' `GetValueOrDefault[<T>]` and
//! `ContainsKey`; `AsJwt()` and a JWT's `Claims`, `Subject`, `Issuer`, `Audiences`;
//! string methods; `string.IsNullOrEmpty/IsNullOrWhiteSpace/Format`, `DateTime.UtcNow`,
//! `Guid.NewGuid()`, `int.Parse`, `Convert.ToBase64String(Encoding.UTF8.GetBytes(…))`.

mod ast;
mod eval;
mod lexer;
mod parser;
mod value;

use std::sync::Arc;

use ast::{Body, Ty};
pub use eval::Facts;
pub use value::{Value, new_guid};

/// A parsed `@(…)` or `@{…}` expression.
#[derive(Debug, Clone)]
pub struct Expr {
    body: Body,
    ty: Ty,
    uses_response: bool,
    /// The source, for error messages.
    source: Arc<str>,
}

impl Expr {
    /// Parses `@(…)` or `@{…}`; errors name the unsupported construct.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let inner = trimmed
            .strip_prefix('@')
            .ok_or_else(|| format!("expected a policy expression @( … ), got `{trimmed}`"))?;
        let parsed = parser::parse(inner)?;
        Ok(Expr {
            body: parsed.body,
            ty: parsed.ty,
            uses_response: parsed.uses_response,
            source: trimmed.into(),
        })
    }

    /// Whether the expression reads `context.Response` (so it waits for the response).
    pub fn uses_response(&self) -> bool {
        self.uses_response
    }

    /// Evaluates the expression; the error names the expression and what failed.
    pub fn eval(&self, facts: &Facts<'_>) -> Result<Value, String> {
        eval::eval_body(&self.body, facts)
            .map_err(|e| format!("expression {} failed: {e}", self.source))
    }
}

/// A value given as a literal or as an expression (attributes, `<value>`, `<set-body>`).
#[derive(Debug, Clone)]
pub enum Text {
    Literal(Arc<str>),
    Expr(Expr),
}

impl Text {
    /// An expression if `raw` starts with `@(` or `@{`, else a literal.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let t = raw.trim_start();
        if t.starts_with("@(") || t.starts_with("@{") {
            Expr::parse(raw).map(Text::Expr)
        } else {
            Ok(Text::Literal(raw.into()))
        }
    }

    /// The literal, if this is one.
    pub fn literal(&self) -> Option<&str> {
        match self {
            Text::Literal(s) => Some(s),
            Text::Expr(_) => None,
        }
    }

    /// Whether evaluating it reads `context.Response`.
    pub fn uses_response(&self) -> bool {
        matches!(self, Text::Expr(e) if e.uses_response())
    }

    /// The value (a literal is a string).
    pub fn eval(&self, facts: &Facts<'_>) -> Result<Value, String> {
        match self {
            Text::Literal(s) => Ok(Value::Str(s.clone())),
            Text::Expr(e) => e.eval(facts),
        }
    }

    /// The value as text (`ToString()`); `None` for null.
    pub fn eval_text(&self, facts: &Facts<'_>) -> Result<Option<String>, String> {
        Ok(match self.eval(facts)? {
            Value::Null => None,
            v => Some(v.to_text()),
        })
    }
}

/// A `condition` or `increment-condition`: an expression that gives a bool.
#[derive(Debug, Clone)]
pub struct Condition(Expr);

impl Condition {
    /// Parses a condition; it must be an expression whose type can be bool.
    pub fn parse(text: &str) -> Result<Self, String> {
        let e = match text.trim() {
            "true" | "false" => Expr::parse(&format!("@({})", text.trim()))?,
            _ => Expr::parse(text)?,
        };
        match e.ty {
            Ty::Bool | Ty::Any => Ok(Condition(e)),
            other => Err(format!(
                "a condition must be a bool; {} gives {other:?}",
                e.source
            )),
        }
    }

    /// Whether it reads `context.Response`.
    pub fn uses_response(&self) -> bool {
        self.0.uses_response
    }

    /// Evaluates it; a non-bool result is an error.
    pub fn holds(&self, facts: &Facts<'_>) -> Result<bool, String> {
        match self.0.eval(facts)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!(
                "condition {} gave {} instead of a bool",
                self.0.source,
                other.type_name()
            )),
        }
    }
}

#[cfg(test)]
mod tests;
