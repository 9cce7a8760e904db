//! Checking an attribute against its kind's row of the table, and the fn it is applied to.
//!
//! Every mistake is collected, so one compile reports all of them, each at the user's token.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Expr, ExprLit, ExprPath, FnArg, Ident, ItemFn, Lit, LitBool, LitStr, Pat, Path, PathArguments,
};

use crate::attr::{Arg, Input, Value};
use crate::kind::{Key, Kind};

// One rule for the compile-time check and the exporter's check at init: a name accepted here is
// never refused when the application starts.
use llmobs_rules::{ml_app_problem, ML_APP_RULE};

/// A checked attribute and its fn: everything the expansion needs.
pub(crate) struct Plan {
    pub kind: Kind,
    pub opts: Options,
    pub item: ItemFn,
}

/// The attribute's options, with the kind's defaults applied.
pub(crate) struct Options {
    pub name: LitStr,
    pub session_id: Option<Expr>,
    pub ml_app: Option<Expr>,
    pub model_name: Option<Expr>,
    pub model_provider: Option<Expr>,
    pub capture_input: bool,
    pub capture_output: bool,
    pub skip: Vec<String>,
    /// How the expansion names the `llmobs` crate: `::llmobs`, or the `crate = ..` path.
    pub krate: Path,
}

#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, span: Span, msg: impl std::fmt::Display) {
        let e = syn::Error::new(span, msg);
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
}

impl Input {
    pub(crate) fn validate(self) -> syn::Result<Plan> {
        let Input { kind, args, item } = self;
        let spec = kind.spec();
        let mut errors = Errors::default();
        let mut seen: Vec<Key> = Vec::new();
        let mut opts = Options {
            name: LitStr::new(&item.sig.ident.unraw().to_string(), item.sig.ident.span()),
            session_id: None,
            ml_app: None,
            model_name: None,
            model_provider: None,
            capture_input: spec.capture_input,
            capture_output: spec.capture_output,
            skip: Vec::new(),
            krate: syn::parse_quote!(::llmobs),
        };

        if let Some(c) = &item.sig.constness {
            let msg = format!(
                "{kind} cannot be used on a `const fn`: a span starts and finishes at run time"
            );
            errors.push(c.span, msg);
        }

        for arg in args {
            let key_name = arg.key.unraw().to_string();
            let Some(key) = Key::from_name(&key_name).filter(|k| kind.accepts(*k)) else {
                errors.push(arg.key.span(), unknown_key(kind, &key_name));
                continue;
            };
            if seen.contains(&key) {
                errors.push(
                    arg.key.span(),
                    format!("duplicate key `{key}`: give it once"),
                );
                continue;
            }
            seen.push(key);
            check_arg(kind, key, arg, &item, &mut opts, &mut errors);
        }

        // A `model_name` that was given but rejected has its own error already.
        if spec.needs_model && !seen.contains(&Key::ModelName) {
            let a = spec.attr;
            let msg = format!(
                "{kind} needs `model_name`: write #[{a}(model_name = \"gpt-4o-mini\")], or an expression \
                 over the fn's arguments such as #[{a}(model_name = self.model.as_str())]"
            );
            errors.push(Span::call_site(), msg);
        }

        match errors.0 {
            Some(e) => Err(e),
            None => Ok(Plan { kind, opts, item }),
        }
    }
}

fn unknown_key(kind: Kind, key: &str) -> String {
    let expected = kind.key_list();
    match Key::from_name(key) {
        Some(k @ (Key::ModelName | Key::ModelProvider)) => format!(
            "`{k}` belongs to #[llm] and #[embedding]; {kind} does not name a model. \
             Expected one of: {expected}"
        ),
        _ => format!("unknown key `{key}` for {kind}; expected one of: {expected}"),
    }
}

/// How a key is written, for messages about a missing or misshapen value.
fn example(key: Key) -> &'static str {
    match key {
        Key::ModelName => "`model_name = \"gpt-4o-mini\"` or `model_name = self.model.as_str()`",
        Key::ModelProvider => "`model_provider = \"openai\"` or `model_provider = self.provider()`",
        Key::Name => "`name = \"answer_question\"`",
        Key::SessionId => "`session_id = \"s-1\"` or `session_id = session.id()`",
        Key::MlApp => "`ml_app = \"support-bot\"` or `ml_app = app.name()`",
        Key::CaptureInput => "`capture_input = false`",
        Key::CaptureOutput => "`capture_output = false`",
        Key::Skip => "`skip(password, client)`",
        Key::Crate => "`crate = my_sdk::llmobs` or `crate = \"my_sdk::llmobs\"`",
    }
}

fn check_arg(
    kind: Kind,
    key: Key,
    arg: Arg,
    item: &ItemFn,
    opts: &mut Options,
    errors: &mut Errors,
) {
    let expr = match arg.value {
        Value::Missing => {
            errors.push(
                arg.key.span(),
                format!("`{key}` needs a value, e.g. {}", example(key)),
            );
            return;
        }
        Value::List(paren, names) => {
            if key == Key::Skip {
                check_skip(kind, names, item, opts, errors);
            } else {
                let msg = format!("`{key}` takes a value, not a list, e.g. {}", example(key));
                errors.push(paren.span.join(), msg);
            }
            return;
        }
        Value::Expr(expr) => expr,
    };
    match key {
        Key::Skip => {
            let msg = format!("`skip` takes a list of parameters, e.g. {}", example(key));
            errors.push(expr.span(), msg);
        }
        Key::Crate => match crate_path(&expr) {
            Ok(path) => opts.krate = path,
            Err((span, msg)) => errors.push(span, msg),
        },
        Key::Name => match string_literal(&expr) {
            Some(s) if s.value().is_empty() => errors.push(s.span(), "`name` must not be empty"),
            Some(s) => opts.name = s.clone(),
            None => {
                let msg = format!(
                    "`name` must be a string literal, e.g. {}; span names are fixed at compile time",
                    example(key)
                );
                errors.push(expr.span(), msg);
            }
        },
        Key::CaptureInput | Key::CaptureOutput => match &expr {
            Expr::Lit(ExprLit {
                lit: Lit::Bool(LitBool { value, .. }),
                ..
            }) => {
                if key == Key::CaptureInput {
                    opts.capture_input = *value;
                } else {
                    opts.capture_output = *value;
                }
            }
            _ => errors.push(expr.span(), format!("`{key}` takes `true` or `false`")),
        },
        Key::SessionId | Key::MlApp | Key::ModelName | Key::ModelProvider => {
            if let Some(what) = non_string_literal(&expr) {
                let msg = format!(
                    "`{key}` takes a string literal or an expression, not {what}, e.g. {}",
                    example(key)
                );
                errors.push(expr.span(), msg);
                return;
            }
            let expr = match (key, string_literal(&expr)) {
                (Key::MlApp, Some(s)) => {
                    let v = s.value();
                    if let Some(problem) = ml_app_problem(&v) {
                        // A long value is already on screen under the caret.
                        let shown = if v.chars().count() <= 60 {
                            format!(" {v:?}")
                        } else {
                            String::new()
                        };
                        errors.push(
                            s.span(),
                            format!("invalid ml_app{shown}: {problem}; {ML_APP_RULE}"),
                        );
                    }
                    expr
                }
                // The runtime lower-cases expressions; a literal costs nothing to fix here.
                (Key::ModelProvider, Some(s)) => {
                    let lower = LitStr::new(&s.value().to_lowercase(), s.span());
                    syn::parse_quote!(#lower)
                }
                _ => expr,
            };
            let slot = match key {
                Key::SessionId => &mut opts.session_id,
                Key::MlApp => &mut opts.ml_app,
                Key::ModelName => &mut opts.model_name,
                _ => &mut opts.model_provider,
            };
            *slot = Some(expr);
        }
    }
}

fn check_skip(
    kind: Kind,
    names: Vec<Ident>,
    item: &ItemFn,
    opts: &mut Options,
    errors: &mut Errors,
) {
    let params = param_names(item);
    for name in names {
        let n = name.unraw().to_string();
        if n == "self" {
            errors.push(
                name.span(),
                "`self` is never captured, so it cannot be skipped",
            );
        } else if params.contains(&n) {
            opts.skip.push(n);
        } else {
            let f = item.sig.ident.unraw();
            let msg = if params.is_empty() {
                format!("`{n}` is not a parameter of `{f}`, which has no named parameters to skip")
            } else {
                let list: Vec<String> = params.iter().map(|p| format!("`{p}`")).collect();
                format!(
                    "`{n}` is not a parameter of `{f}`; {kind} can skip: {}",
                    list.join(", ")
                )
            };
            errors.push(name.span(), msg);
        }
    }
}

/// The names of the parameters that are bound to a plain identifier (the capturable ones).
pub(crate) fn param_names(item: &ItemFn) -> Vec<String> {
    item.sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(t) => match &*t.pat {
                Pat::Ident(p) => Some(p.ident.unraw().to_string()),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect()
}

fn string_literal(expr: &Expr) -> Option<&LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s),
        _ => None,
    }
}

/// What a literal that cannot be a string is, for the message.
fn non_string_literal(expr: &Expr) -> Option<&'static str> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Str(_) => None,
            Lit::Int(_) | Lit::Float(_) => Some("a number"),
            Lit::Bool(_) => Some("a bool"),
            Lit::Char(_) => Some("a char"),
            Lit::Byte(_) | Lit::ByteStr(_) | Lit::CStr(_) => Some("a byte literal"),
            _ => Some("this literal"),
        },
        _ => None,
    }
}

/// The path of `crate = my_sdk::llmobs` or `crate = "my_sdk::llmobs"`, or where and why it is
/// not one. Either form names a module path: no generic arguments, no expression.
fn crate_path(expr: &Expr) -> Result<Path, (Span, String)> {
    let expected = format!(
        "`crate` takes the path of the `llmobs` crate or of a module that re-exports it, e.g. {}",
        example(Key::Crate)
    );
    let path = match expr {
        Expr::Path(ExprPath {
            attrs,
            qself: None,
            path,
        }) if attrs.is_empty() => path.clone(),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => match s.parse_with(Path::parse_mod_style) {
            // The parsed tokens carry the literal's span, so later errors point at it.
            Ok(path) => path,
            Err(_) => {
                let msg = format!("{:?} is not a path; {expected}", s.value());
                return Err((s.span(), msg));
            }
        },
        _ => {
            let what = non_string_literal(expr).unwrap_or("this expression");
            return Err((expr.span(), format!("{what} is not a path; {expected}")));
        }
    };
    if let Some(seg) = path
        .segments
        .iter()
        .find(|seg| !matches!(seg.arguments, PathArguments::None))
    {
        let msg = format!("`crate` names a module, which takes no generic arguments; {expected}");
        return Err((seg.arguments.span(), msg));
    }
    Ok(path)
}
