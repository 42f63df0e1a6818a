//! The parsed form of an expression: nodes whose every member and method is already
//! resolved to one the stand-in implements, plus the static types used to resolve them.

use super::value::Value;

/// The static type of a node, as far as the parser knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// Unknown until run time (variables, locals of unknown type).
    Any,
    Null,
    Str,
    Int,
    Double,
    Bool,
    StrArray,
    Bytes,
    DateTime,
    Guid,
    TimeSpan,
    Jwt,
    Obj(Obj),
    Dict(Dict),
}

/// The context objects (their data comes from the request, not from the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obj {
    Context,
    Request,
    Response,
    Url,
    Subscription,
    Deployment,
    Encoding,
}

/// Dictionaries with `GetValueOrDefault`/`ContainsKey`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dict {
    RequestHeaders,
    ResponseHeaders,
    Query,
    MatchedParameters,
    Variables,
    /// Claims of a JWT (the target value is the JWT).
    Claims,
}

/// The target type of a cast or of `GetValueOrDefault<T>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastTy {
    Str,
    Int,
    Bool,
}

impl CastTy {
    pub fn ty(self) -> Ty {
        match self {
            CastTy::Str => Ty::Str,
            CastTy::Int => Ty::Int,
            CastTy::Bool => Ty::Bool,
        }
    }
}

/// A property read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prop {
    Request,
    Response,
    Subscription,
    Variables,
    Elapsed,
    RequestId,
    Deployment,
    Method,
    Url,
    RequestHeaders,
    IpAddress,
    MatchedParameters,
    Path,
    Host,
    Port,
    Scheme,
    QueryString,
    Query,
    StatusCode,
    ResponseHeaders,
    SubscriptionId,
    SubscriptionKey,
    Region,
    ServiceName,
    TotalMilliseconds,
    TotalSeconds,
    Claims,
    Subject,
    Issuer,
    Audiences,
    Length,
}

/// An instance method call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    GetValueOrDefault(Dict, Option<CastTy>),
    ContainsKey(Dict),
    AsJwt,
    StartsWith,
    EndsWith,
    Contains,
    Equals,
    ToLower,
    ToUpper,
    Substring,
    IndexOf,
    Replace,
    Trim,
    TrimStart,
    TrimEnd,
    Split,
    ToString,
    GetBytes,
}

/// A static member or call (`string.IsNullOrEmpty`, `DateTime.UtcNow`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Static {
    IsNullOrEmpty,
    IsNullOrWhiteSpace,
    Format,
    UtcNow,
    NewGuid,
    IntParse,
    ToBase64String,
    Utf8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// An expression node. `text` fields hold the source, for run-time error messages.
#[derive(Debug, Clone)]
pub enum Node {
    Lit(Value),
    /// A local of the enclosing `@{ }` block, by slot.
    Local(usize),
    Context,
    Prop {
        target: Box<Node>,
        prop: Prop,
        null_safe: bool,
        text: String,
    },
    Call {
        target: Box<Node>,
        method: Method,
        args: Vec<Node>,
        null_safe: bool,
        text: String,
    },
    Index {
        target: Box<Node>,
        index: Box<Node>,
        null_safe: bool,
        text: String,
    },
    Static {
        func: Static,
        args: Vec<Node>,
    },
    Not(Box<Node>),
    Neg(Box<Node>),
    Binary(BinOp, Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Coalesce(Box<Node>, Box<Node>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
    Cast(CastTy, Box<Node>),
    /// `$"…"`: the parts' strings concatenated.
    Concat(Vec<Node>),
}

/// A statement of an `@{ }` block.
#[derive(Debug, Clone)]
pub enum Stmt {
    /// `var x = …;` / `string x = …;` into a slot.
    Let(usize, Node),
    If(Node, Vec<Stmt>, Vec<Stmt>),
    Return(Node),
}

/// What follows the `@`.
#[derive(Debug, Clone)]
pub enum Body {
    Single(Node),
    Block { stmts: Vec<Stmt>, locals: usize },
}
