//! Parser and evaluator tests: each construct, the load-time errors, the run-time errors.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use http::HeaderMap;

use super::{Condition, Expr, Facts, Text, Value};

/// A request as the tests see it; `facts()` borrows it.
struct Req {
    headers: HeaderMap,
    response_headers: HeaderMap,
    status: Option<u16>,
    subscription: Option<(&'static str, &'static str)>,
    variables: HashMap<String, Value>,
    query: Option<&'static str>,
    request_id: OnceLock<u128>,
    started: Instant,
}

impl Req {
    fn new() -> Self {
        let mut headers = HeaderMap::new();
        headers.insert("host", "gw.local:8080".parse().unwrap());
        headers.insert("x-tenant", "t1".parse().unwrap());
        headers.append("accept", "a/b".parse().unwrap());
        headers.append("accept", "c/d".parse().unwrap());
        let mut response_headers = HeaderMap::new();
        response_headers.insert("etag", "\"e1\"".parse().unwrap());
        let mut variables = HashMap::new();
        variables.insert("name".to_string(), Value::str("bench"));
        variables.insert("n".to_string(), Value::Int(41));
        Req {
            headers,
            response_headers,
            status: None,
            subscription: Some(("bench", "key-bench")),
            variables,
            query: Some("a=1&b=x%20y&a=2"),
            request_id: OnceLock::new(),
            started: Instant::now() - Duration::from_millis(5),
        }
    }

    fn facts(&self) -> Facts<'_> {
        Facts {
            method: "GET",
            scheme: "http",
            api_prefix: "/storage",
            path: "/bucket/dir/key.txt",
            query: self.query,
            request_headers: &self.headers,
            ip: IpAddr::from([127, 0, 0, 2]),
            subscription: self.subscription,
            response: self.status.map(|s| (s, &self.response_headers)),
            variables: &self.variables,
            started: self.started,
            request_id: &self.request_id,
        }
    }

    fn eval(&self, src: &str) -> Value {
        Expr::parse(src)
            .unwrap_or_else(|e| panic!("{src}: {e}"))
            .eval(&self.facts())
            .unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn text(&self, src: &str) -> String {
        match self.eval(src) {
            Value::Str(s) => s.to_string(),
            other => panic!("{src} gave {other:?}"),
        }
    }

    fn run_error(&self, src: &str) -> String {
        Expr::parse(src)
            .unwrap_or_else(|e| panic!("{src}: {e}"))
            .eval(&self.facts())
            .expect_err(src)
    }
}

fn jwt(claims: &str) -> String {
    let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!("{}.{}.sig", b(r#"{"alg":"RS256"}"#), b(claims))
}

#[test]
fn literals_and_operators() {
    let r = Req::new();
    for (src, want) in [
        ("@(1 + 2 * 3)", Value::Int(7)),
        ("@((1 + 2) * 3)", Value::Int(9)),
        ("@(7 / 2)", Value::Int(3)),
        ("@(7 % 3)", Value::Int(1)),
        ("@(-3 + 1)", Value::Int(-2)),
        ("@(1.5 * 2)", Value::Double(3.0)),
        (
            "@(1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 4 == false)",
            Value::Bool(true),
        ),
        ("@(!(1 == 1) || 1 != 2)", Value::Bool(true)),
        ("@(true ? \"y\" : \"n\")", Value::str("y")),
        ("@(null ?? \"d\")", Value::str("d")),
        ("@(\"a\" ?? \"d\")", Value::str("a")),
        ("@(\"a\" + 1 + true)", Value::str("a1True")),
        (r#"@("q\"\\\n\t\u0041")"#, Value::str("q\"\\\n\tA")),
        (r#"@(@"c:\x""y")"#, Value::str("c:\\x\"y")),
        (
            r#"@($"n={1 + 1}, {{literal}}, v={context.Variables["name"]}")"#,
            Value::str("n=2, {literal}, v=bench"),
        ),
        ("@((string)null)", Value::Null),
        ("@((int)context.Variables[\"n\"] + 1)", Value::Int(42)),
        ("@((bool)(1 == 1))", Value::Bool(true)),
        ("@('x')", Value::str("x")),
    ] {
        assert_eq!(r.eval(src), want, "{src}");
    }
}

#[test]
fn request_context() {
    let r = Req::new();
    for (src, want) in [
        ("@(context.Request.Method)", "GET"),
        ("@(context.Request.Url.Path)", "/storage/bucket/dir/key.txt"),
        ("@(context.Request.Url.Host)", "gw.local"),
        ("@(context.Request.Url.Port.ToString())", "8080"),
        ("@(context.Request.Url.Scheme)", "http"),
        ("@(context.Request.Url.QueryString)", "?a=1&b=x%20y&a=2"),
        (
            "@(context.Request.Url.Query.GetValueOrDefault(\"a\", \"\"))",
            "1,2",
        ),
        (
            "@(context.Request.Url.Query.GetValueOrDefault(\"b\"))",
            "x y",
        ),
        (
            "@(context.Request.Url.Query.GetValueOrDefault(\"z\", \"none\"))",
            "none",
        ),
        (
            "@(context.Request.Headers.GetValueOrDefault(\"X-Tenant\", \"none\"))",
            "t1",
        ),
        (
            "@(context.Request.Headers.GetValueOrDefault(\"Accept\",\"\"))",
            "a/b,c/d",
        ),
        (
            "@(context.Request.Headers.GetValueOrDefault(\"X-Missing\", \"none\"))",
            "none",
        ),
        ("@(context.Request.IpAddress)", "127.0.0.2"),
        (
            "@(context.Request.MatchedParameters.GetValueOrDefault(\"bucket\", \"\"))",
            "bucket",
        ),
        (
            "@(context.Request.MatchedParameters.GetValueOrDefault(\"key\", \"\"))",
            "dir/key.txt",
        ),
        ("@(context.Subscription.Id)", "bench"),
        ("@(context.Subscription.Name)", "bench"),
        ("@(context.Subscription.Key)", "key-bench"),
        ("@(context.Variables[\"name\"] + \"!\")", "bench!"),
        (
            "@(context.Variables.GetValueOrDefault<string>(\"name\", \"d\"))",
            "bench",
        ),
        (
            "@(context.Variables.GetValueOrDefault<string>(\"nope\", \"d\"))",
            "d",
        ),
        (
            "@((string)context.Variables.GetValueOrDefault(\"name\"))",
            "bench",
        ),
        ("@(context.Deployment.Region)", "local"),
    ] {
        assert_eq!(r.text(src), want, "{src}");
    }
    assert_eq!(
        r.eval("@(context.Request.Headers.ContainsKey(\"x-tenant\"))"),
        Value::Bool(true)
    );
    assert_eq!(
        r.eval("@(context.Variables.ContainsKey(\"nope\"))"),
        Value::Bool(false)
    );
    assert_eq!(
        r.eval("@(context.Elapsed.TotalMilliseconds >= 5)"),
        Value::Bool(true)
    );
    assert_eq!(
        r.eval("@(context.Elapsed.TotalSeconds < 60)"),
        Value::Bool(true)
    );
    let id = r.text("@(context.RequestId.ToString())");
    assert_eq!(id.len(), 36);
    assert_eq!(
        r.text("@(context.RequestId + \"\")"),
        id,
        "one id per request"
    );

    let mut anonymous = Req::new();
    anonymous.subscription = None;
    assert_eq!(anonymous.eval("@(context.Subscription?.Id)"), Value::Null);
    assert_eq!(
        anonymous.text("@(context.Subscription?.Id ?? \"anon\")"),
        "anon"
    );
    assert!(
        anonymous
            .run_error("@(context.Subscription.Id)")
            .contains("null")
    );
}

#[test]
fn response_context_and_uses_response() {
    let mut r = Req::new();
    let e =
        Expr::parse("@(context.Response.StatusCode >= 200 && context.Response.StatusCode < 300)")
            .unwrap();
    assert!(e.uses_response());
    assert!(
        !Expr::parse("@(context.Request.Method)")
            .unwrap()
            .uses_response()
    );
    assert!(
        e.eval(&r.facts()).is_err(),
        "no response yet: null dereference"
    );
    r.status = Some(204);
    assert_eq!(e.eval(&r.facts()).unwrap(), Value::Bool(true));
    assert_eq!(
        r.text("@(context.Response.Headers.GetValueOrDefault(\"ETag\", \"\"))"),
        "\"e1\""
    );
    assert_eq!(r.eval("@(context.Response?.StatusCode)"), Value::Int(204));
}

/// The counter key the real-APIM policy (deploy/apim/policy.xml) uses, exactly.
const AZP_OR_APPID: &str = r#"@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Claims.GetValueOrDefault("azp", (string)null) ?? context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Claims.GetValueOrDefault("appid", "anonymous"))"#;

#[test]
fn jwt_claims_and_the_real_policy_counter_key() {
    let key = Expr::parse(AZP_OR_APPID).unwrap();
    let with = |auth: Option<String>| {
        let mut r = Req::new();
        if let Some(a) = auth {
            r.headers.insert("authorization", a.parse().unwrap());
        }
        key.eval(&r.facts()).unwrap()
    };
    // v2 token: azp.
    assert_eq!(
        with(Some(format!(
            "Bearer {}",
            jwt(r#"{"azp":"v2-client","appid":"x"}"#)
        ))),
        Value::str("v2-client")
    );
    // v1 token: appid only.
    assert_eq!(
        with(Some(format!("Bearer {}", jwt(r#"{"appid":"v1-client"}"#)))),
        Value::str("v1-client")
    );
    // Neither claim, no header, or not a JWT.
    assert_eq!(
        with(Some(format!("Bearer {}", jwt(r#"{"sub":"s"}"#)))),
        Value::str("anonymous")
    );
    assert_eq!(
        with(None),
        Value::Null,
        "no header: AsJwt() of \"\" is null, so both sides are null"
    );
    assert_eq!(with(Some("Bearer not-a-jwt".into())), Value::Null);

    let mut r = Req::new();
    let token =
        jwt(r#"{"sub":"me","iss":"http://idp","aud":["a1","a2"],"roles":["r1","r2"],"n":5}"#);
    r.headers
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r.variables.insert("t".into(), Value::from(token));
    let auth = "context.Request.Headers.GetValueOrDefault(\"Authorization\",\"\").AsJwt()";
    assert_eq!(r.text(&format!("@({auth}.Subject)")), "me");
    assert_eq!(r.text(&format!("@({auth}.Issuer)")), "http://idp");
    assert_eq!(
        r.eval(&format!("@({auth}.Audiences.Length)")),
        Value::Int(2)
    );
    assert_eq!(
        r.text(&format!(
            "@({auth}.Claims.GetValueOrDefault(\"roles\", \"\"))"
        )),
        "r1,r2"
    );
    assert_eq!(
        r.text(&format!("@({auth}.Claims.GetValueOrDefault(\"n\", \"\"))")),
        "5"
    );
    assert_eq!(
        r.text("@(((string)context.Variables[\"t\"]).AsJwt().Subject)"),
        "me"
    );
}

#[test]
fn string_methods_and_statics() {
    let r = Req::new();
    for (src, want) in [
        (
            "@(\"Hello\".ToLower() + \"x\".ToUpperInvariant() + \"Y\".ToLowerInvariant())",
            String::from("helloXy"),
        ),
        ("@(\"abcdef\".Substring(2))", "cdef".into()),
        ("@(\"abcdef\".Substring(1, 3))", "bcd".into()),
        ("@(\"a-b-c\".Replace(\"-\", \"+\"))", "a+b+c".into()),
        (
            "@(\"  a \".Trim() + \"|\" + \"xxaxx\".TrimStart('x') + \"|\" + \"a  \".TrimEnd())",
            "a|axx|a".into(),
        ),
        ("@(\"a,b,c\".Split(',')[1])", "b".into()),
        (
            "@(\"abc\".IndexOf(\"c\").ToString() + \"abc\".Length)",
            "23".into(),
        ),
        (
            "@(string.Format(\"{0}-{1}-{0}\", \"a\", 2))",
            "a-2-a".into(),
        ),
        (
            "@(Convert.ToBase64String(Encoding.UTF8.GetBytes(\"hi\")))",
            "aGk=".into(),
        ),
        ("@((int.Parse(\"41\") + 1).ToString())", "42".into()),
    ] {
        assert_eq!(r.text(src), want, "{src}");
    }
    for (src, want) in [
        (
            "@(\"abc\".StartsWith(\"ab\") && \"abc\".EndsWith(\"bc\") && \"abc\".Contains(\"b\"))",
            true,
        ),
        ("@(\"abc\".Equals(\"abd\"))", false),
        (
            "@(string.IsNullOrEmpty(\"\") && string.IsNullOrEmpty(null) && !string.IsNullOrEmpty(\"x\"))",
            true,
        ),
        ("@(string.IsNullOrWhiteSpace(\" \"))", true),
        (
            "@(context.Request.Url.Path.StartsWith(\"/storage/bucket\"))",
            true,
        ),
    ] {
        assert_eq!(r.eval(src), Value::Bool(want), "{src}");
    }
    assert_eq!(
        r.text("@(DateTime.UtcNow.ToString(\"yyyyMMddTHHmmssZ\"))")
            .len(),
        16
    );
    assert_eq!(r.text("@(Guid.NewGuid().ToString())").len(), 36);
    assert_ne!(
        r.text("@(Guid.NewGuid().ToString())"),
        r.text("@(Guid.NewGuid().ToString())")
    );
}

#[test]
fn blocks_with_statements() {
    let r = Req::new();
    let src = r#"@{
        var auth = context.Request.Headers.GetValueOrDefault("X-Tenant", "");
        string prefix = "tenant-";
        int n = 2;
        if (auth == "") {
            return "none";
        } else if (n > 1) {
            var shout = auth.ToUpper();
            return prefix + shout;
        }
        return "unreachable";
    }"#;
    assert_eq!(r.text(src), "tenant-T1");
    assert_eq!(
        r.text("@{ if (true) return \"a\"; else return \"b\"; }"),
        "a"
    );
    for (bad, says) in [
        ("@{ var x = 1; }", "return"),
        ("@{ if (true) { return 1; } }", "return"),
        ("@{ while (true) { } return 1; }", "statement `while"),
        ("@{ var x = 1; var x = 2; return x; }", "declared twice"),
    ] {
        let err = Expr::parse(bad).unwrap_err();
        assert!(err.contains(says), "{bad}: {err}");
    }
}

#[test]
fn unsupported_names_are_load_time_errors_naming_them() {
    for (src, names) in [
        (
            "@(context.Request.Body.As<string>())",
            "`context.Request.Body`",
        ),
        ("@(context.Product.Name)", "`context.Product`"),
        (
            "@(context.Request.Headers[\"Authorization\"])",
            "`context.Request.Headers[\"Authorization\"]`",
        ),
        ("@(System.IO.File.ReadAllText(\"/etc/passwd\"))", "`System`"),
        ("@(DateTime.Parse(\"x\"))", "`DateTime.Parse`"),
        (
            "@(context.Request.Method.Normalize())",
            "`context.Request.Method.Normalize()`",
        ),
        ("@(\"a\".Substring())", "argument"),
        ("@(context.Request.Url.Path", "expected `)`"),
        ("@(1 +)", "unexpected `)` at column 5"),
        ("@(\"a\" - 1)", "needs numbers"),
    ] {
        let err = Expr::parse(src).unwrap_err();
        assert!(err.contains(names), "{src}: {err}");
    }
    assert_eq!(
        Expr::parse("@(context.Request.Body)").unwrap_err(),
        "`context.Request.Body` is not supported by the stand-in's expressions"
    );
}

#[test]
fn run_time_errors_are_errors_not_panics() {
    let r = Req::new();
    for (src, says) in [
        ("@(\"abc\".Substring(2, 5))", "ArgumentOutOfRange"),
        ("@(\"abc\".Substring(-1))", "ArgumentOutOfRange"),
        ("@(\"a,b\".Split(',')[5])", "out of range"),
        ("@(int.Parse(\"x\"))", "FormatException"),
        (
            "@(1 / (context.Variables.ContainsKey(\"n\") ? 0 : 1))",
            "DivideByZero",
        ),
        ("@(context.Variables[\"missing\"])", "KeyNotFound"),
        ("@((int)context.Variables[\"name\"])", "InvalidCast"),
        (
            "@(context.Request.Headers.GetValueOrDefault(\"X-None\").Length)",
            "null",
        ),
        ("@(9223372036854775807 + 1)", "overflow"),
        ("@(DateTime.UtcNow.ToString(\"D\"))", "not supported"),
    ] {
        let err = r.run_error(src);
        assert!(err.contains(says), "{src}: {err}");
        assert!(err.contains(src), "the message names the expression: {err}");
    }
}

#[test]
fn texts_and_conditions() {
    let r = Req::new();
    let literal = Text::parse("plain @ text").unwrap();
    assert_eq!(literal.literal(), Some("plain @ text"));
    assert_eq!(
        literal.eval_text(&r.facts()).unwrap().as_deref(),
        Some("plain @ text")
    );
    let computed = Text::parse("@(context.Request.Method)").unwrap();
    assert_eq!(computed.literal(), None);
    assert_eq!(
        computed.eval_text(&r.facts()).unwrap().as_deref(),
        Some("GET")
    );
    assert_eq!(
        Text::parse("@((string)null)")
            .unwrap()
            .eval_text(&r.facts())
            .unwrap(),
        None
    );
    assert!(Text::parse("@(context.Nope)").is_err());

    let c = Condition::parse(
        "@(context.Request.Method == \"GET\" || context.Request.Method == \"HEAD\")",
    )
    .unwrap();
    assert!(c.holds(&r.facts()).unwrap());
    assert!(Condition::parse("true").unwrap().holds(&r.facts()).unwrap());
    assert!(Condition::parse("@(\"GET\")").unwrap_err().contains("bool"));
    let any = Condition::parse("@(context.Variables[\"name\"])").unwrap();
    assert!(
        any.holds(&r.facts())
            .unwrap_err()
            .contains("instead of a bool")
    );
}
