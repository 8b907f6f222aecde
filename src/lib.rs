//! Tonearm: a personal music locker and adaptive audio streaming server.
//!
//! The module tree follows the data, and dependencies only point backwards along it:
//! `domain → store → media → catalog → encode/package/cache → ingest → service → server`.
//! The composition root is [`app`], the only place that names concrete implementations
//! (`LocalStore` or `S3Store`, SQLite or PostgreSQL, `coord::Local` or `coord::postgres`). Only [`server`] knows HTTP; the rules
//! live once, in [`service`]. See `ARCHITECTURE.md` for the invariants.

pub mod app;
pub mod cache;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod coord;
pub mod domain;
pub mod encode;
pub mod ingest;
pub mod media;
pub mod package;
pub mod server;
pub mod service;
pub mod signing;
pub mod store;
pub mod telemetry;
