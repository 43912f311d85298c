//! End-to-end suite: the real binaries, under the local host or alone, against simulated Azure.

mod activation;
mod demo;
mod health;
mod host;
mod infra;
mod ops;
mod package;
mod plan;
mod scenarios;
mod support;
mod watchdog;
mod world;
