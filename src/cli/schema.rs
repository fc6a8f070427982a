//! `cutover schema`: the JSON Schema of playbooks, derived from the model types
//! and every action's parameter struct, so editors complete and check playbooks.

use super::{CliError, ExitCode};
use crate::actions::ACTIONS;
use crate::playbook::Playbook;

pub fn schema() -> Result<ExitCode, CliError> {
    println!(
        "{}",
        serde_json::to_string_pretty(&playbook_schema()).expect("schemas serialize")
    );
    Ok(ExitCode::Done)
}

/// The playbook schema with `with` typed per action (`if action == X then with: X's params`).
pub fn playbook_schema() -> serde_json::Value {
    let mut generator = schemars::gen::SchemaSettings::draft07().into_generator();
    let root = generator.root_schema_for::<Playbook>();
    let mut value = serde_json::to_value(&root).expect("schemas serialize");
    let mut conditions = Vec::new();
    for info in ACTIONS {
        let params =
            serde_json::to_value((info.schema)(&mut generator)).expect("schemas serialize");
        conditions.push(serde_json::json!({
            "if": { "properties": { "action": { "const": info.name } }, "required": ["action"] },
            "then": { "properties": { "with": params } },
        }));
    }
    let action_names: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
    let definitions = generator.definitions().clone();
    if let Some(defs) = value.get_mut("definitions").and_then(|d| d.as_object_mut()) {
        for (name, schema) in definitions {
            defs.entry(name)
                .or_insert(serde_json::to_value(schema).expect("schemas serialize"));
        }
        for call in ["Step", "ActionCall"] {
            if let Some(def) = defs.get_mut(call).and_then(|d| d.as_object_mut()) {
                def.insert("allOf".into(), serde_json::Value::Array(conditions.clone()));
                if let Some(action) = def
                    .get_mut("properties")
                    .and_then(|p| p.get_mut("action"))
                    .and_then(|a| a.as_object_mut())
                {
                    action.insert("enum".into(), serde_json::json!(action_names));
                }
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::{STEP_KEYS, TOP_KEYS};

    fn keys(value: &serde_json::Value) -> Vec<String> {
        let mut keys: Vec<String> = value["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    fn sorted(keys: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        keys.sort();
        keys
    }

    /// The schema and the decoder must accept the same keys, or editors would
    /// approve what `validate` rejects.
    #[test]
    fn schema_keys_match_the_decoder() {
        let schema = playbook_schema();
        assert_eq!(keys(&schema), sorted(TOP_KEYS));
        assert_eq!(keys(&schema["definitions"]["Step"]), sorted(STEP_KEYS));
        let conditions = schema["definitions"]["Step"]["allOf"].as_array().unwrap();
        assert_eq!(conditions.len(), ACTIONS.len());
    }

    /// The committed copy for editors is regenerated here; a diff fails.
    #[test]
    fn committed_schema_is_current() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/playbook.schema.json");
        let current = serde_json::to_string_pretty(&playbook_schema()).unwrap() + "\n";
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &current).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == current,
            "docs/playbook.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test committed_schema`"
        );
    }
}
