//! Durations and audio properties judged by an independent decoder: ffmpeg decodes each
//! fixture and its sample count must match ours. Skipped (with a note) where ffmpeg is
//! not installed; `.ci/run` and `scripts/test.sh` install it.

use crate::common;

use common::{Env, ffmpeg_seconds, have_ffmpeg, testdata};

#[test]
fn durations_match_ffmpeg_decode() {
    if !have_ffmpeg() {
        eprintln!("SKIPPED: ffmpeg not installed (scripts/test.sh installs it)");
        return;
    }
    let env = Env::new();
    env.add_user("alice", "correct horse battery");
    env.import("alice", &[testdata("library"), testdata("damaged")]);
    let s = env.serve();
    let tok = s.login("alice", "correct horse battery");
    let tracks = s.json(&tok, "/api/v1/tracks?limit=100");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for t in tracks["items"].as_array().unwrap() {
        let name = t["file_name"].as_str().unwrap();
        let path = common::walk(&testdata(""))
            .into_iter()
            .find(|p| p.file_name().unwrap().to_str() == Some(name))
            .unwrap_or_else(|| panic!("no fixture named {name:?}"));
        let (theirs, rate) = ffmpeg_seconds(&path).unwrap();
        let ours = t["duration"].as_f64().unwrap();
        assert_eq!(t["sample_rate"].as_u64().unwrap(), rate as u64, "{name}");
        // Exact to the sample, within the millisecond rounding the API reports.
        let tol = 0.0011;
        if (ours - theirs).abs() > tol {
            wrong.push(format!("{name}: ours {ours} s, ffmpeg {theirs} s"));
        }
        checked += 1;
    }
    assert!(wrong.is_empty(), "durations differ from ffmpeg's decode:\n{}", wrong.join("\n"));
    assert_eq!(checked, 13);
}
