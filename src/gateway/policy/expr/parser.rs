//! Tokens to a resolved `Body`: C# precedence, `@{ }` statements, and the check that
//! every name, member and method is one the stand-in implements (else an error naming
//! it, at policy load time).

use super::ast::{BinOp, Body, CastTy, Dict, Method, Node, Obj, Prop, Static, Stmt, Ty};
use super::lexer::{Piece, Tok, lex};
use super::value::Value;

/// What parsing learned besides the tree.
pub struct Parsed {
    pub body: Body,
    pub ty: Ty,
    /// The expression reads `context.Response`.
    pub uses_response: bool,
}

/// Parses the text after `@`: `( expr )` or `{ statements }`.
pub fn parse(src: &str) -> Result<Parsed, String> {
    let mut p = Parser::new(src, 0)?;
    let (body, ty) = match p.peek_punct() {
        Some("(") => {
            p.pos += 1;
            let (node, ty) = p.expr()?;
            p.expect(")")?;
            (Body::Single(node), ty)
        }
        Some("{") => {
            p.pos += 1;
            let stmts = p.block_rest()?;
            if !returns(&stmts) {
                return Err("the @{ } block does not end with `return …;` on every path".into());
            }
            (
                Body::Block {
                    stmts,
                    locals: p.locals.len(),
                },
                Ty::Any,
            )
        }
        _ => return Err("an expression starts with @( or @{".into()),
    };
    if p.pos < p.toks.len() {
        return Err(p.unexpected());
    }
    Ok(Parsed {
        body,
        ty,
        uses_response: p.uses_response,
    })
}

fn returns(stmts: &[Stmt]) -> bool {
    match stmts.last() {
        Some(Stmt::Return(_)) => true,
        Some(Stmt::If(_, then, otherwise)) => returns(then) && returns(otherwise),
        _ => false,
    }
}

fn unsupported(what: &str) -> String {
    format!("`{what}` is not supported by the stand-in's expressions")
}

struct Parser<'s> {
    src: &'s str,
    /// Added to offsets in messages (interpolation holes are parsed separately).
    base: usize,
    toks: Vec<(Tok, usize)>,
    pos: usize,
    locals: Vec<(String, Ty)>,
    uses_response: bool,
}

impl<'s> Parser<'s> {
    fn new(src: &'s str, base: usize) -> Result<Self, String> {
        Ok(Parser {
            src,
            base,
            toks: lex(src)?,
            pos: 0,
            locals: Vec::new(),
            uses_response: false,
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    fn peek_punct(&self) -> Option<&'static str> {
        match self.peek() {
            Some(Tok::Punct(p)) => Some(p),
            _ => None,
        }
    }

    fn offset(&self) -> usize {
        self.toks.get(self.pos).map_or(self.src.len(), |t| t.1)
    }

    fn unexpected(&self) -> String {
        match self.toks.get(self.pos) {
            Some((_, at)) => format!(
                "unexpected `{}` at column {}",
                self.src[*at..].chars().take(20).collect::<String>(),
                self.base + at + 1
            ),
            None => "unexpected end of expression".into(),
        }
    }

    fn eat(&mut self, p: &str) -> bool {
        if self.peek_punct() == Some(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, p: &str) -> Result<(), String> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(format!("expected `{p}`; {}", self.unexpected()))
        }
    }

    fn ident(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(format!("expected a name; {}", self.unexpected())),
        }
    }

    fn peek_ident(&self, name: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == name)
    }

    /// Statements up to and including the closing `}`.
    fn block_rest(&mut self) -> Result<Vec<Stmt>, String> {
        let mut stmts = Vec::new();
        while !self.eat("}") {
            if self.peek().is_none() {
                return Err("missing `}` at the end of the block".into());
            }
            stmts.push(self.stmt()?);
        }
        Ok(stmts)
    }

    /// A statement, or a `{ }` block of them, as a list.
    fn branch(&mut self) -> Result<Vec<Stmt>, String> {
        if self.eat("{") {
            self.block_rest()
        } else {
            Ok(vec![self.stmt()?])
        }
    }

    fn stmt(&mut self) -> Result<Stmt, String> {
        let word = match self.peek() {
            Some(Tok::Ident(s)) => s.clone(),
            _ => return Err(format!("expected a statement; {}", self.unexpected())),
        };
        match word.as_str() {
            "return" => {
                self.pos += 1;
                let (node, _) = self.expr()?;
                self.expect(";")?;
                Ok(Stmt::Return(node))
            }
            "if" => {
                self.pos += 1;
                self.expect("(")?;
                let (cond, ty) = self.expr()?;
                check_bool(ty, "if")?;
                self.expect(")")?;
                let then = self.branch()?;
                let otherwise = if self.peek_ident("else") {
                    self.pos += 1;
                    self.branch()?
                } else {
                    Vec::new()
                };
                Ok(Stmt::If(cond, then, otherwise))
            }
            "var" | "string" | "int" | "bool" | "object" => {
                self.pos += 1;
                let name = self.ident()?;
                self.expect("=")?;
                let (node, ty) = self.expr()?;
                self.expect(";")?;
                let declared = match word.as_str() {
                    "var" => ty,
                    "string" => Ty::Str,
                    "int" => Ty::Int,
                    "bool" => Ty::Bool,
                    _ => Ty::Any,
                };
                let node = match word.as_str() {
                    "string" => Node::Cast(CastTy::Str, Box::new(node)),
                    "int" => Node::Cast(CastTy::Int, Box::new(node)),
                    "bool" => Node::Cast(CastTy::Bool, Box::new(node)),
                    _ => node,
                };
                if self.locals.iter().any(|(n, _)| *n == name) {
                    return Err(format!("the local `{name}` is declared twice"));
                }
                self.locals.push((name, declared));
                Ok(Stmt::Let(self.locals.len() - 1, node))
            }
            other => Err(format!(
                "statement `{other} …`: the stand-in's @{{ }} blocks allow only \
                 var/string/int/bool declarations, if/else and return"
            )),
        }
    }

    fn expr(&mut self) -> Result<(Node, Ty), String> {
        let (cond, ty) = self.coalesce()?;
        if !self.eat("?") {
            return Ok((cond, ty));
        }
        check_bool(ty, "?:")?;
        let (a, ta) = self.expr()?;
        self.expect(":")?;
        let (b, tb) = self.expr()?;
        Ok((
            Node::Cond(Box::new(cond), Box::new(a), Box::new(b)),
            join(ta, tb),
        ))
    }

    fn coalesce(&mut self) -> Result<(Node, Ty), String> {
        let (a, ta) = self.or()?;
        if !self.eat("??") {
            return Ok((a, ta));
        }
        let (b, tb) = self.coalesce()?;
        Ok((Node::Coalesce(Box::new(a), Box::new(b)), join(ta, tb)))
    }

    fn or(&mut self) -> Result<(Node, Ty), String> {
        let (mut a, mut ta) = self.and()?;
        while self.eat("||") {
            let (b, tb) = self.and()?;
            check_bool(ta, "||")?;
            check_bool(tb, "||")?;
            a = Node::Or(Box::new(a), Box::new(b));
            ta = Ty::Bool;
        }
        Ok((a, ta))
    }

    fn and(&mut self) -> Result<(Node, Ty), String> {
        let (mut a, mut ta) = self.equality()?;
        while self.eat("&&") {
            let (b, tb) = self.equality()?;
            check_bool(ta, "&&")?;
            check_bool(tb, "&&")?;
            a = Node::And(Box::new(a), Box::new(b));
            ta = Ty::Bool;
        }
        Ok((a, ta))
    }

    fn binary_level(
        &mut self,
        ops: &[(&str, BinOp)],
        next: fn(&mut Self) -> Result<(Node, Ty), String>,
    ) -> Result<(Node, Ty), String> {
        let (mut a, mut ta) = next(self)?;
        'outer: loop {
            for (text, op) in ops {
                if self.eat(text) {
                    let (b, tb) = next(self)?;
                    ta = binary_type(*op, ta, tb)?;
                    a = Node::Binary(*op, Box::new(a), Box::new(b));
                    continue 'outer;
                }
            }
            return Ok((a, ta));
        }
    }

    fn equality(&mut self) -> Result<(Node, Ty), String> {
        self.binary_level(&[("==", BinOp::Eq), ("!=", BinOp::Ne)], Self::relational)
    }

    fn relational(&mut self) -> Result<(Node, Ty), String> {
        self.binary_level(
            &[
                ("<=", BinOp::Le),
                (">=", BinOp::Ge),
                ("<", BinOp::Lt),
                (">", BinOp::Gt),
            ],
            Self::additive,
        )
    }

    fn additive(&mut self) -> Result<(Node, Ty), String> {
        self.binary_level(
            &[("+", BinOp::Add), ("-", BinOp::Sub)],
            Self::multiplicative,
        )
    }

    fn multiplicative(&mut self) -> Result<(Node, Ty), String> {
        self.binary_level(
            &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Rem)],
            Self::unary,
        )
    }

    fn unary(&mut self) -> Result<(Node, Ty), String> {
        if self.eat("!") {
            let (a, ta) = self.unary()?;
            check_bool(ta, "!")?;
            return Ok((Node::Not(Box::new(a)), Ty::Bool));
        }
        if self.eat("-") {
            let (a, ta) = self.unary()?;
            if !matches!(ta, Ty::Int | Ty::Double | Ty::Any) {
                return Err("unary `-` needs a number".into());
            }
            return Ok((Node::Neg(Box::new(a)), ta));
        }
        if let Some(cast) = self.cast_prefix() {
            self.pos += 3;
            let (a, _) = self.unary()?;
            return Ok((Node::Cast(cast, Box::new(a)), cast.ty()));
        }
        self.postfix()
    }

    /// `(string)`, `(int)`, `(bool)` at the current position.
    fn cast_prefix(&self) -> Option<CastTy> {
        let is = |i: usize, p: &str| matches!(self.toks.get(self.pos + i), Some((Tok::Punct(x), _)) if *x == p);
        if !(is(0, "(") && is(2, ")")) {
            return None;
        }
        match self.toks.get(self.pos + 1) {
            Some((Tok::Ident(t), _)) => cast_type(t),
            _ => None,
        }
    }

    fn postfix(&mut self) -> Result<(Node, Ty), String> {
        let start = self.offset();
        let (mut node, mut ty) = self.primary()?;
        let mut null_safe = false;
        loop {
            let text = |p: &Self| p.src[start..p.offset()].trim().to_string();
            if self.eat("[") {
                let (index, ti) = self.expr()?;
                self.expect("]")?;
                ty = match (ty, ti) {
                    (Ty::Dict(Dict::Variables), Ty::Str | Ty::Any) => Ty::Any,
                    (Ty::StrArray, Ty::Int | Ty::Any) => Ty::Str,
                    (Ty::Any, _) => Ty::Any,
                    (Ty::Dict(_), _) => {
                        return Err(format!(
                            "{}; use .GetValueOrDefault(\"name\", \"default\")",
                            unsupported(&text(self))
                        ));
                    }
                    _ => return Err(unsupported(&text(self))),
                };
                node = Node::Index {
                    target: Box::new(node),
                    index: Box::new(index),
                    null_safe,
                    text: text(self),
                };
                continue;
            }
            let safe_here = if self.eat("?.") {
                true
            } else if self.eat(".") {
                false
            } else {
                return Ok((node, ty));
            };
            null_safe |= safe_here;
            let name = self.ident()?;
            let generic = self.generic_arg()?;
            if self.peek_punct() == Some("(") {
                let (method, result, arity) = resolve_method(ty, &name, generic)
                    .ok_or_else(|| unsupported(&format!("{}()", text(self))))?;
                self.pos += 1;
                let args = self.args()?;
                if !arity.contains(&args.len()) {
                    return Err(format!(
                        "`{}` takes {} argument(s), not {}",
                        text(self),
                        arity_text(&arity),
                        args.len()
                    ));
                }
                node = Node::Call {
                    target: Box::new(node),
                    method,
                    args,
                    null_safe,
                    text: text(self),
                };
                ty = result;
            } else {
                let (prop, result) =
                    resolve_prop(ty, &name).ok_or_else(|| unsupported(&text(self)))?;
                if prop == Prop::Response {
                    self.uses_response = true;
                }
                node = Node::Prop {
                    target: Box::new(node),
                    prop,
                    null_safe,
                    text: text(self),
                };
                ty = result;
            }
        }
    }

    /// `<string>` between a method name and its `(`.
    fn generic_arg(&mut self) -> Result<Option<CastTy>, String> {
        let is = |i: usize, p: &str| matches!(self.toks.get(self.pos + i), Some((Tok::Punct(x), _)) if *x == p);
        if !(is(0, "<") && is(2, ">") && is(3, "(")) {
            return Ok(None);
        }
        let Some((Tok::Ident(t), _)) = self.toks.get(self.pos + 1) else {
            return Ok(None);
        };
        let cast = match t.as_str() {
            "object" => None,
            other => Some(cast_type(other).ok_or_else(|| unsupported(&format!("<{other}>")))?),
        };
        self.pos += 3;
        Ok(cast)
    }

    /// Arguments after `(`, through `)`.
    fn args(&mut self) -> Result<Vec<Node>, String> {
        let mut args = Vec::new();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?.0);
            if self.eat(")") {
                return Ok(args);
            }
            self.expect(",")?;
        }
    }

    fn primary(&mut self) -> Result<(Node, Ty), String> {
        let at = self.offset();
        let Some((tok, _)) = self.toks.get(self.pos).cloned() else {
            return Err(self.unexpected());
        };
        self.pos += 1;
        match tok {
            Tok::Str(s) => Ok((Node::Lit(Value::str(s)), Ty::Str)),
            Tok::Int(i) => Ok((Node::Lit(Value::Int(i)), Ty::Int)),
            Tok::Double(d) => Ok((Node::Lit(Value::Double(d)), Ty::Double)),
            Tok::Interpolated(pieces) => {
                let mut parts = Vec::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(t) => parts.push(Node::Lit(Value::str(t))),
                        Piece::Hole { src, at } => {
                            let mut sub = Parser::new(&src, self.base + at)?;
                            sub.locals = std::mem::take(&mut self.locals);
                            let result = sub.expr();
                            self.locals = std::mem::take(&mut sub.locals);
                            self.uses_response |= sub.uses_response;
                            parts.push(result?.0);
                            if sub.pos < sub.toks.len() {
                                return Err(sub.unexpected());
                            }
                        }
                    }
                }
                Ok((Node::Concat(parts), Ty::Str))
            }
            Tok::Punct("(") => {
                let inner = self.expr()?;
                self.expect(")")?;
                Ok(inner)
            }
            Tok::Ident(name) => self.name(&name, at),
            Tok::Punct(_) => {
                self.pos -= 1;
                Err(self.unexpected())
            }
        }
    }

    /// A name at the start of a primary: a keyword literal, `context`, a local, or a
    /// static member of a supported type.
    fn name(&mut self, name: &str, at: usize) -> Result<(Node, Ty), String> {
        match name {
            "true" => return Ok((Node::Lit(Value::Bool(true)), Ty::Bool)),
            "false" => return Ok((Node::Lit(Value::Bool(false)), Ty::Bool)),
            "null" => return Ok((Node::Lit(Value::Null), Ty::Null)),
            "context" => return Ok((Node::Context, Ty::Obj(Obj::Context))),
            _ => {}
        }
        if let Some(slot) = self.locals.iter().rposition(|(n, _)| n == name) {
            return Ok((Node::Local(slot), self.locals[slot].1));
        }
        let is_type = matches!(
            name,
            "string" | "String" | "DateTime" | "Guid" | "int" | "Int32" | "Convert" | "Encoding"
        );
        if !is_type || !self.eat(".") {
            return Err(unsupported(name));
        }
        let member = self.ident()?;
        let text = self.src[at..self.offset()].to_string();
        let (func, ty, arity) = match (name, member.as_str()) {
            ("string" | "String", "IsNullOrEmpty") => (Static::IsNullOrEmpty, Ty::Bool, 1..=1),
            ("string" | "String", "IsNullOrWhiteSpace") => {
                (Static::IsNullOrWhiteSpace, Ty::Bool, 1..=1)
            }
            ("string" | "String", "Format") => (Static::Format, Ty::Str, 1..=10),
            ("DateTime", "UtcNow" | "Now") => (Static::UtcNow, Ty::DateTime, 0..=0),
            ("Guid", "NewGuid") => (Static::NewGuid, Ty::Guid, 0..=0),
            ("int" | "Int32", "Parse") => (Static::IntParse, Ty::Int, 1..=1),
            ("Convert", "ToBase64String") => (Static::ToBase64String, Ty::Str, 1..=1),
            ("Encoding", "UTF8") => (Static::Utf8, Ty::Obj(Obj::Encoding), 0..=0),
            _ => return Err(unsupported(&text)),
        };
        let is_property = matches!(func, Static::UtcNow | Static::Utf8);
        let args = if is_property {
            Vec::new()
        } else {
            self.expect("(")?;
            self.args()?
        };
        if !arity.contains(&args.len()) {
            return Err(format!(
                "`{text}` takes {} argument(s), not {}",
                arity_text(&arity),
                args.len()
            ));
        }
        Ok((Node::Static { func, args }, ty))
    }
}

fn arity_text(r: &std::ops::RangeInclusive<usize>) -> String {
    if r.start() == r.end() {
        r.start().to_string()
    } else {
        format!("{} to {}", r.start(), r.end())
    }
}

fn cast_type(name: &str) -> Option<CastTy> {
    match name {
        "string" | "String" => Some(CastTy::Str),
        "int" | "Int32" | "long" => Some(CastTy::Int),
        "bool" | "Boolean" => Some(CastTy::Bool),
        _ => None,
    }
}

fn check_bool(ty: Ty, op: &str) -> Result<(), String> {
    match ty {
        Ty::Bool | Ty::Any => Ok(()),
        _ => Err(format!("`{op}` needs a bool")),
    }
}

/// The type of `a ? x : y` or `x ?? y`.
fn join(a: Ty, b: Ty) -> Ty {
    match (a, b) {
        (x, y) if x == y => x,
        (Ty::Null, y) => y,
        (x, Ty::Null) => x,
        _ => Ty::Any,
    }
}

fn binary_type(op: BinOp, a: Ty, b: Ty) -> Result<Ty, String> {
    let numeric = |t: Ty| matches!(t, Ty::Int | Ty::Double | Ty::Any);
    match op {
        BinOp::Eq | BinOp::Ne => Ok(Ty::Bool),
        BinOp::Add if a == Ty::Str || b == Ty::Str => Ok(Ty::Str),
        _ if !(numeric(a) && numeric(b)) => Err(format!(
            "operator {op:?} needs numbers{}",
            if op == BinOp::Add { " or a string" } else { "" }
        )),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => Ok(Ty::Bool),
        _ => Ok(match (a, b) {
            (Ty::Int, Ty::Int) => Ty::Int,
            (Ty::Any, _) | (_, Ty::Any) => Ty::Any,
            _ => Ty::Double,
        }),
    }
}

/// A property of a value of type `ty`, and its type.
fn resolve_prop(ty: Ty, name: &str) -> Option<(Prop, Ty)> {
    use Obj::*;
    Some(match (ty, name) {
        (Ty::Obj(Context), "Request") => (Prop::Request, Ty::Obj(Request)),
        (Ty::Obj(Context), "Response") => (Prop::Response, Ty::Obj(Response)),
        (Ty::Obj(Context), "Subscription") => (Prop::Subscription, Ty::Obj(Subscription)),
        (Ty::Obj(Context), "Variables") => (Prop::Variables, Ty::Dict(Dict::Variables)),
        (Ty::Obj(Context), "Elapsed") => (Prop::Elapsed, Ty::TimeSpan),
        (Ty::Obj(Context), "RequestId") => (Prop::RequestId, Ty::Guid),
        (Ty::Obj(Context), "Deployment") => (Prop::Deployment, Ty::Obj(Deployment)),
        (Ty::Obj(Request), "Method") => (Prop::Method, Ty::Str),
        (Ty::Obj(Request), "Url") => (Prop::Url, Ty::Obj(Url)),
        (Ty::Obj(Request), "Headers") => (Prop::RequestHeaders, Ty::Dict(Dict::RequestHeaders)),
        (Ty::Obj(Request), "IpAddress") => (Prop::IpAddress, Ty::Str),
        (Ty::Obj(Request), "MatchedParameters") => {
            (Prop::MatchedParameters, Ty::Dict(Dict::MatchedParameters))
        }
        (Ty::Obj(Url), "Path") => (Prop::Path, Ty::Str),
        (Ty::Obj(Url), "Host") => (Prop::Host, Ty::Str),
        (Ty::Obj(Url), "Port") => (Prop::Port, Ty::Int),
        (Ty::Obj(Url), "Scheme") => (Prop::Scheme, Ty::Str),
        (Ty::Obj(Url), "QueryString") => (Prop::QueryString, Ty::Str),
        (Ty::Obj(Url), "Query") => (Prop::Query, Ty::Dict(Dict::Query)),
        (Ty::Obj(Response), "StatusCode") => (Prop::StatusCode, Ty::Int),
        (Ty::Obj(Response), "Headers") => (Prop::ResponseHeaders, Ty::Dict(Dict::ResponseHeaders)),
        (Ty::Obj(Subscription), "Id" | "Name") => (Prop::SubscriptionId, Ty::Str),
        (Ty::Obj(Subscription), "Key" | "PrimaryKey") => (Prop::SubscriptionKey, Ty::Str),
        (Ty::Obj(Deployment), "Region") => (Prop::Region, Ty::Str),
        (Ty::Obj(Deployment), "ServiceName") => (Prop::ServiceName, Ty::Str),
        (Ty::TimeSpan, "TotalMilliseconds") => (Prop::TotalMilliseconds, Ty::Double),
        (Ty::TimeSpan, "TotalSeconds") => (Prop::TotalSeconds, Ty::Double),
        (Ty::Jwt, "Claims") => (Prop::Claims, Ty::Dict(Dict::Claims)),
        (Ty::Jwt, "Subject") => (Prop::Subject, Ty::Str),
        (Ty::Jwt, "Issuer") => (Prop::Issuer, Ty::Str),
        (Ty::Jwt, "Audiences") => (Prop::Audiences, Ty::StrArray),
        (Ty::Str | Ty::Any | Ty::StrArray | Ty::Bytes, "Length") => (Prop::Length, Ty::Int),
        _ => return None,
    })
}

/// A method of a value of type `ty`: the method, its result type and how many arguments.
fn resolve_method(
    ty: Ty,
    name: &str,
    generic: Option<CastTy>,
) -> Option<(Method, Ty, std::ops::RangeInclusive<usize>)> {
    let string_like = matches!(ty, Ty::Str | Ty::Any);
    Some(match (ty, name) {
        (Ty::Dict(d), "GetValueOrDefault") => {
            let result = match (d, generic) {
                (_, Some(c)) => c.ty(),
                (Dict::Variables, None) => Ty::Any,
                _ => Ty::Str,
            };
            (Method::GetValueOrDefault(d, generic), result, 1..=2)
        }
        (Ty::Dict(d), "ContainsKey") => (Method::ContainsKey(d), Ty::Bool, 1..=1),
        (Ty::Obj(Obj::Encoding), "GetBytes") => (Method::GetBytes, Ty::Bytes, 1..=1),
        (Ty::Obj(_) | Ty::Dict(_), _) => return None,
        (_, "ToString") => (Method::ToString, Ty::Str, 0..=1),
        (_, _) if !string_like => return None,
        (_, "AsJwt") => (Method::AsJwt, Ty::Jwt, 0..=0),
        (_, "StartsWith") => (Method::StartsWith, Ty::Bool, 1..=1),
        (_, "EndsWith") => (Method::EndsWith, Ty::Bool, 1..=1),
        (_, "Contains") => (Method::Contains, Ty::Bool, 1..=1),
        (_, "Equals") => (Method::Equals, Ty::Bool, 1..=1),
        (_, "ToLower" | "ToLowerInvariant") => (Method::ToLower, Ty::Str, 0..=0),
        (_, "ToUpper" | "ToUpperInvariant") => (Method::ToUpper, Ty::Str, 0..=0),
        (_, "Substring") => (Method::Substring, Ty::Str, 1..=2),
        (_, "IndexOf") => (Method::IndexOf, Ty::Int, 1..=1),
        (_, "Replace") => (Method::Replace, Ty::Str, 2..=2),
        (_, "Trim") => (Method::Trim, Ty::Str, 0..=1),
        (_, "TrimStart") => (Method::TrimStart, Ty::Str, 0..=1),
        (_, "TrimEnd") => (Method::TrimEnd, Ty::Str, 0..=1),
        (_, "Split") => (Method::Split, Ty::StrArray, 1..=1),
        _ => return None,
    })
}
