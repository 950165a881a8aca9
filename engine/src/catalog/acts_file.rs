//! `acts.toml`: examples of the dialogue acts (how people answer the bot), one table per act.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::intent_file::check_examples;
use super::{CatalogError, Settings};
use crate::acts::Act;

/// The name of the dialogue-act examples file.
pub const ACTS_FILE: &str = "acts.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAct {
    examples: Vec<String>,
}

/// Reads `acts.toml`: every act must be there with enough examples, and nothing else.
pub(super) fn parse(
    file: &str,
    text: &str,
    settings: &Settings,
) -> Result<Vec<(Act, Vec<String>)>, CatalogError> {
    let raw: BTreeMap<String, RawAct> =
        toml::from_str(text).map_err(|e| super::parse_error(file, "acts", &e))?;
    let mut acts = Vec::with_capacity(Act::ALL.len());
    for name in raw.keys() {
        if Act::parse(name).is_none() {
            return Err(CatalogError::Invalid {
                file: file.to_string(),
                intent: name.clone(),
                field: "act",
                message: format!(
                    "unknown act; the acts are {}",
                    Act::ALL.map(Act::as_str).join(", ")
                ),
            });
        }
    }
    for act in Act::ALL {
        let Some(table) = raw.get(act.as_str()) else {
            return Err(CatalogError::Invalid {
                file: file.to_string(),
                intent: act.as_str().to_string(),
                field: "act",
                message: "missing: every act needs a table of examples".into(),
            });
        };
        check_examples(
            file,
            act.as_str(),
            "examples",
            &table.examples,
            settings.min_act_examples,
        )?;
        acts.push((act, table.examples.clone()));
    }
    Ok(acts)
}
