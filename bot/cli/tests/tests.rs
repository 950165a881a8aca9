//! The deskbot binary's integration tests (the process, its configuration and wiring): one
//! test binary, a module per file.

mod backup;
mod cli;
mod common;
mod crash;
mod discord_binary;
mod embedding_chat;
mod embedding_vectors;
mod grafana;
mod handoff_cli;
mod handoff_gateway;
mod idle_run;
mod languages;
mod logs;
mod model_fetch;
mod observe;
mod operator;
mod prop;
mod report;
mod review;
mod scripted_run;
mod telegram_binary;
mod telegram_resilience;
mod tickets_query;
mod token_leak;
