//! One intent file (`<id>.toml`) and the out-of-scope file: their raw shape and the rules
//! that turn them into a validated [`Intent`].

use std::collections::HashSet;

use regex::{Regex, RegexBuilder};
use serde::Deserialize;

use super::{CatalogError, ErrorCode, GUIDE_STEPS, Intent, IntentKind, Settings, Step};
use crate::normalize::normalize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIntent {
    id: String,
    kind: IntentKind,
    title: String,
    description: String,
    examples: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default)]
    codes: Vec<ErrorCode>,
    /// Strings (action steps) or tables (`kind`, `text`, `help`).
    #[serde(default)]
    steps: Vec<toml::Value>,
    #[serde(default)]
    priority: bool,
    #[serde(default)]
    offer_person: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutOfScope {
    #[serde(default)]
    pub(super) id: Option<String>,
    pub(super) kind: String,
    pub(super) examples: Vec<String>,
}

/// Whether a step can fix the problem by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StepKind {
    /// Something to do; the bot asks "Did that fix it?" after it.
    #[default]
    Action,
    /// Advice that fixes nothing alone; shown with the next action step.
    Advice,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    #[serde(default)]
    pub(super) kind: StepKind,
    pub(super) text: String,
    #[serde(default)]
    pub(super) help: Option<String>,
}

pub(super) fn check_examples(
    file: &str,
    intent: &str,
    field: &'static str,
    examples: &[String],
    min: usize,
) -> Result<(), CatalogError> {
    let bad = |message: String| CatalogError::Invalid {
        file: file.to_string(),
        intent: intent.to_string(),
        field,
        message,
    };
    if let Some(pos) = examples.iter().position(|e| normalize(e).is_empty()) {
        return Err(bad(format!("example {} is empty", pos + 1)));
    }
    let distinct: HashSet<String> = examples.iter().map(|e| normalize(e)).collect();
    if distinct.len() < min {
        return Err(bad(format!(
            "has {} distinct examples, needs at least {min}",
            distinct.len()
        )));
    }
    Ok(())
}

/// Compiles a catalog regex with a size limit; it must not match the empty message.
fn pattern(p: &str) -> Result<Regex, String> {
    let re = RegexBuilder::new(p)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("is not a valid regex: {e}"))?;
    if re.is_match("") {
        return Err("matches every message".into());
    }
    Ok(re)
}

/// The pattern that finds `code` as a whole token in a normalised (lower-case) message.
fn code_pattern(code: &str) -> Result<Regex, String> {
    pattern(&format!(
        r"(?:^|[^\w-]){}(?:$|[^\w])",
        regex::escape(&normalize(code))
    ))
}

pub(super) fn validate(
    file: &str,
    stem: &str,
    raw: RawIntent,
    settings: &Settings,
) -> Result<Intent, CatalogError> {
    let bad = |field, message: String| CatalogError::Invalid {
        file: file.to_string(),
        intent: raw.id.clone(),
        field,
        message,
    };
    if raw.id.is_empty()
        || !raw
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(bad(
            "id",
            "must be non-empty lowercase letters, digits and _".into(),
        ));
    }
    if raw.id != stem {
        return Err(bad(
            "id",
            format!("must match the file name (`{stem}.toml`)"),
        ));
    }
    if raw.title.trim().is_empty() || raw.title.chars().count() > 60 {
        return Err(bad("title", "must be 1 to 60 characters".into()));
    }
    if raw.description.trim().is_empty() || raw.description.contains('\n') {
        return Err(bad("description", "must be one non-empty line".into()));
    }
    let min = if raw.kind == IntentKind::Guide {
        settings.min_guide_examples
    } else {
        settings.min_other_examples
    };
    check_examples(file, &raw.id, "examples", &raw.examples, min)?;
    let mut patterns = Vec::with_capacity(raw.patterns.len() + raw.codes.len());
    for (i, p) in raw.patterns.iter().enumerate() {
        patterns.push(pattern(p).map_err(|e| bad("patterns", format!("pattern {} {e}", i + 1)))?);
    }
    for (i, c) in raw.codes.iter().enumerate() {
        let code = c.code.trim();
        if code.is_empty()
            || !code
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
        {
            return Err(bad(
                "codes",
                format!("code {} must be letters, digits, _ and - only", i + 1),
            ));
        }
        if c.source.trim().is_empty() {
            return Err(bad(
                "codes",
                format!(
                    "code {code} has no `source`: say where its meaning comes from (codes are never given invented meanings)"
                ),
            ));
        }
        if c.meaning.trim().is_empty() {
            return Err(bad("codes", format!("code {code} has no `meaning`")));
        }
        patterns.push(code_pattern(code).map_err(|e| bad("codes", format!("code {code} {e}")))?);
    }
    let (steps, step_kinds) = match raw.kind {
        IntentKind::Guide => guide_steps(&raw.steps).map_err(|m| bad("steps", m))?,
        other if !raw.steps.is_empty() => {
            return Err(bad(
                "steps",
                format!("only guides have steps, this intent is a {other}"),
            ));
        }
        _ => (Vec::new(), Vec::new()),
    };
    if raw.kind != IntentKind::Guide && (raw.priority || raw.offer_person) {
        return Err(bad(
            if raw.priority {
                "priority"
            } else {
                "offer_person"
            },
            "only guides can be marked priority or offer a person".into(),
        ));
    }
    Ok(Intent {
        id: raw.id,
        kind: raw.kind,
        title: raw.title.trim().to_string(),
        description: raw.description.trim().to_string(),
        examples: raw.examples,
        patterns,
        codes: raw.codes,
        steps,
        step_kinds,
        priority: raw.priority,
        offer_person: raw.offer_person,
        file: file.to_string(),
    })
}

/// Reads a guide's steps (strings are action steps) and folds each advice step into the next
/// action step as its tip (into the previous one when no action follows).
fn guide_steps(raw: &[toml::Value]) -> Result<(Vec<Step>, Vec<StepKind>), String> {
    if !GUIDE_STEPS.contains(&raw.len()) {
        return Err(format!(
            "a guide needs {} to {} steps, found {}",
            GUIDE_STEPS.start(),
            GUIDE_STEPS.end(),
            raw.len()
        ));
    }
    let mut parsed = Vec::with_capacity(raw.len());
    for (i, value) in raw.iter().enumerate() {
        let step = match value {
            toml::Value::String(text) => RawStep {
                kind: StepKind::Action,
                text: text.clone(),
                help: None,
            },
            toml::Value::Table(_) => value
                .clone()
                .try_into::<RawStep>()
                .map_err(|e| format!("step {}: {}", i + 1, e.to_string().trim_end()))?,
            _ => return Err(format!("step {} must be a string or a table", i + 1)),
        };
        if step.text.trim().is_empty() {
            return Err(format!("step {} is empty", i + 1));
        }
        if step.help.as_deref().is_some_and(|h| h.trim().is_empty()) {
            return Err(format!("step {}: `help` is empty (leave it out)", i + 1));
        }
        parsed.push(step);
    }
    let actions = parsed.iter().filter(|s| s.kind == StepKind::Action).count();
    if actions < 2 {
        return Err(format!(
            "a guide needs at least 2 action steps (advice alone fixes nothing), found {actions}"
        ));
    }
    let kinds = parsed.iter().map(|s| s.kind).collect();
    Ok((fold_steps(parsed), kinds))
}

/// Folds each advice step into the next action step as its tip (into the previous one when
/// no action follows).
pub(super) fn fold_steps(parsed: Vec<RawStep>) -> Vec<Step> {
    let actions = parsed.iter().filter(|s| s.kind == StepKind::Action).count();
    let mut steps: Vec<Step> = Vec::with_capacity(actions);
    let mut pending: Vec<String> = Vec::new();
    for s in parsed {
        let text = s.text.trim().to_string();
        match s.kind {
            StepKind::Advice => pending.push(text),
            StepKind::Action => {
                steps.push(Step {
                    text,
                    help: s.help.map(|h| h.trim().to_string()),
                    tip: (!pending.is_empty()).then(|| pending.join(" ")),
                });
                pending.clear();
            }
        }
    }
    if !pending.is_empty()
        && let Some(last) = steps.last_mut()
    {
        let tip = pending.join(" ");
        last.tip = Some(match last.tip.take() {
            Some(t) => format!("{t} {tip}"),
            None => tip,
        });
    }
    steps
}
