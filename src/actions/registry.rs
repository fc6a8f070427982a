//! The action registry: every action a playbook may name, one line each. An
//! action's name, summary, decoder and schema live in its own file
//! (`<family>/<verb>.rs`, its `DESCRIPTOR`); the engine does not change.

use std::sync::Arc;

use super::builtin::watch;
use super::{
    builtin, cloudwatch, elbv2, haproxy, http, maintenance, mysql, nginx, pgbouncer, postgres, rds,
    route53, sql, tcp,
};
use super::{decode_params, ActionRef, Descriptor, ParamsError};

/// Every action a playbook may name, in the order `cutover schema` and the docs list them.
pub static ACTIONS: &[&Descriptor] = &[
    &builtin::shell::DESCRIPTOR,
    &builtin::wait::DESCRIPTOR,
    &builtin::approve::DESCRIPTOR,
    &maintenance::file::DESCRIPTOR,
    &maintenance::http::DESCRIPTOR,
    &maintenance::command::DESCRIPTOR,
    &haproxy::swap::DESCRIPTOR,
    &haproxy::weights::DESCRIPTOR,
    &nginx::swap::DESCRIPTOR,
    &pgbouncer::pause::DESCRIPTOR,
    &pgbouncer::resume::DESCRIPTOR,
    &pgbouncer::switch::DESCRIPTOR,
    &http::check::DESCRIPTOR,
    &tcp::check::DESCRIPTOR,
    &sql::check::DESCRIPTOR,
    &WATCH,
    &mysql::prewarm::DESCRIPTOR,
    &mysql::read_only::DESCRIPTOR,
    &mysql::read_write::DESCRIPTOR,
    &mysql::verify::DESCRIPTOR,
    &mysql::health::DESCRIPTOR,
    &mysql::stragglers::DESCRIPTOR,
    &mysql::copy::DESCRIPTOR,
    &mysql::replicate::DESCRIPTOR,
    &mysql::drop_replication::DESCRIPTOR,
    &mysql::reverse_replicate::DESCRIPTOR,
    &mysql::drop_reverse_replication::DESCRIPTOR,
    &mysql::catch_up::DESCRIPTOR,
    &mysql::ready::DESCRIPTOR,
    &mysql::compare_settings::DESCRIPTOR,
    &mysql::snapshot::DESCRIPTOR,
    &mysql::restore::DESCRIPTOR,
    &postgres::copy::DESCRIPTOR,
    &postgres::read_only::DESCRIPTOR,
    &postgres::read_write::DESCRIPTOR,
    &postgres::verify::DESCRIPTOR,
    &postgres::sync_sequences::DESCRIPTOR,
    &postgres::compare_settings::DESCRIPTOR,
    &postgres::replicate::DESCRIPTOR,
    &postgres::drop_replication::DESCRIPTOR,
    &postgres::catch_up::DESCRIPTOR,
    &postgres::ready::DESCRIPTOR,
    &postgres::snapshot::DESCRIPTOR,
    &postgres::restore::DESCRIPTOR,
    &postgres::health::DESCRIPTOR,
    &postgres::stragglers::DESCRIPTOR,
    &postgres::prewarm::DESCRIPTOR,
    &postgres::reverse_replicate::DESCRIPTOR,
    &postgres::drop_reverse_replication::DESCRIPTOR,
    &rds::snapshot::DESCRIPTOR,
    &rds::restore::DESCRIPTOR,
    &rds::read_replica::DESCRIPTOR,
    &rds::promote::DESCRIPTOR,
    &rds::modify::DESCRIPTOR,
    &rds::compare::DESCRIPTOR,
    &rds::wait::DESCRIPTOR,
    &rds::delete_snapshot::DESCRIPTOR,
    &rds::delete_instance::DESCRIPTOR,
    &rds::blue_green::DESCRIPTOR,
    &rds::blue_green_switchover::DESCRIPTOR,
    &rds::blue_green_delete::DESCRIPTOR,
    &rds::proxy_swap::DESCRIPTOR,
    &route53::swap::DESCRIPTOR,
    &elbv2::swap::DESCRIPTOR,
    &cloudwatch::guard::DESCRIPTOR,
];

/// `watch` runs other actions as its checks, so its decoder needs this list:
/// it is declared here, the one place that knows every action (its type and
/// schema live in `builtin/watch.rs`).
pub static WATCH: Descriptor = Descriptor {
    name: watch::NAME,
    summary: watch::SUMMARY,
    module: watch::MODULE,
    decode: decode_watch,
    schema: watch::schema,
};

/// `with` of a watch → the watch with each check decoded like a step's
/// action; errors carry the path of the check (`checks.1.with.url`).
fn decode_watch(value: serde_json::Value) -> Result<ActionRef, ParamsError> {
    let params: watch::WatchParams = decode_params(value)?;
    let at = |index: usize, rest: &[&str]| {
        let mut path = vec!["checks".to_string(), index.to_string()];
        path.extend(rest.iter().map(|s| s.to_string()));
        path
    };
    let mut checks = Vec::with_capacity(params.checks.len());
    for (index, call) in params.checks.iter().enumerate() {
        let info = lookup(&call.action)
            .filter(|info| info.name != watch::NAME)
            .ok_or_else(|| ParamsError {
                path: at(index, &["action"]),
                message: format!("unknown check action `{}`", call.action),
            })?;
        let with = call.with.clone().unwrap_or_else(|| serde_json::json!({}));
        let check = (info.decode)(with).map_err(|error| ParamsError {
            path: [at(index, &["with"]), error.path].concat(),
            message: format!("`{}` parameters: {}", info.name, error.message),
        })?;
        checks.push(check);
    }
    // A watch holds its checks as `ActionRef`s, which are not `Send`: the
    // engine drives one step at a time on a current-thread runtime.
    #[allow(clippy::arc_with_non_send_sync)]
    let shared = |watch: watch::Watch| Arc::new(watch) as ActionRef;
    watch::Watch::new(params, checks, &WATCH)
        .map(shared)
        .map_err(|(index, message)| ParamsError {
            path: index.map(|i| at(i, &["action"])).unwrap_or_default(),
            message,
        })
}

/// Finds an action by the name a playbook uses.
pub fn lookup(name: &str) -> Option<&'static Descriptor> {
    ACTIONS
        .iter()
        .copied()
        .find(|descriptor| descriptor.name == name)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::ACTIONS;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// `postgres.copy` → `actions::postgres::copy`; `shell` → `actions::builtin::shell`.
    fn expected_module(name: &str) -> String {
        match name.split_once('.') {
            Some((family, verb)) => format!("cutover::actions::{family}::{verb}"),
            None => format!("cutover::actions::builtin::{name}"),
        }
    }

    #[test]
    fn names_are_unique_and_each_lives_in_the_module_its_name_says() {
        let mut seen = BTreeSet::new();
        for action in ACTIONS {
            assert!(
                seen.insert(action.name),
                "`{}` is registered twice",
                action.name
            );
            assert_eq!(
                action.module,
                expected_module(action.name),
                "`{}` is declared in the wrong module",
                action.name
            );
        }
    }

    #[test]
    fn every_action_has_its_doc_page_and_every_page_its_action() {
        let pages: BTreeSet<String> = std::fs::read_dir(root().join("docs/actions"))
            .unwrap()
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".md").map(str::to_string)
            })
            .collect();
        let names: BTreeSet<String> = ACTIONS.iter().map(|a| a.name.to_string()).collect();
        assert_eq!(
            pages, names,
            "docs/actions/NAME.md and the registry disagree"
        );
    }

    /// The name string is written once, in the action's own file: everything
    /// else reaches it through the descriptor.
    #[test]
    fn each_name_string_is_written_in_one_file_only() {
        let mut files = Vec::new();
        let mut dirs = vec![root().join("src")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        for action in ACTIONS {
            let quoted = format!("\"{}\"", action.name);
            let holders: Vec<String> = files
                .iter()
                .filter(|(_, text)| text.contains(&quoted))
                .map(|(path, _)| path.strip_prefix(root()).unwrap().display().to_string())
                .collect();
            assert_eq!(holders.len(), 1, "{quoted} is written in {holders:?}");
        }
    }
}
