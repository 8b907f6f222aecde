//! The end-to-end suite, one test binary (linked once): the real `tonearm` binary on an
//! ephemeral loopback port with a temporary data directory, real codecs, ffmpeg as the
//! independent judge, real clients (tus-js-client, Chromium), plus the fuzzer and the
//! code's own tidy rules. One module per area.

mod cluster;
mod common;
mod durations;
mod faults;
mod fuzz;
mod hls;
mod hostile;
mod library;
mod services;
mod subsonic;
mod tidy;
mod uploads;
mod upnp;
mod web;
