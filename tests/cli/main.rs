//! Integration tests: the real `cutover` binary, run the way an operator runs it,
//! against real processes and files. One binary, one module per area.

mod support;

mod attacks;
mod attacks_locks;
mod attacks_secrets;
mod audit;
mod aws_traffic;
mod budget;
mod canary;
mod certs;
mod corpus;
mod deadlines;
mod freeze_undo;
mod go_back;
mod guardrails;
mod headline;
mod https;
mod inputs;
mod lb;
mod lock;
mod maria;
mod measure;
mod mysql_actions;
mod mysql_archive;
mod mysql_copy;
mod mysql_cutover;
mod mysql_replicate;
mod mysql_reverse;
mod mysql_servers_differ;
mod mysql_tls;
mod output;
mod partial_undo;
mod pgbouncer;
mod resume;
mod run;
mod secrets;
mod signed;
mod slow;
mod status;
mod stragglers;
mod traffic;
mod validate;
mod watch;

mod pg_cluster;
mod pg_seed;
mod postgres_actions;
mod postgres_archive;
mod postgres_copy;
mod postgres_health;
mod postgres_replicate;
mod postgres_reverse;
mod postgres_servers_differ;
mod postgres_tls;
mod postgres_undo;
mod prewarm;
mod probe;

mod iam;
mod moto;
mod rds;
mod rds_aws;
mod rds_partial;
mod rds_playbooks;
mod ready;
