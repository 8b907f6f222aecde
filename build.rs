//! Build script: gzip-compresses the web player's files (`web/`, without its tests) into
//! `OUT_DIR/web/<file>.gz` once, at build time, so the server embeds both forms and never
//! compresses at run time (which cost ~9 MB of resident memory and a first request's time).

use std::io::Write;
use std::path::{Path, PathBuf};

fn compress(src: &Path, rel: &Path, out: &Path) {
    let bytes = std::fs::read(src).unwrap_or_else(|e| panic!("reading {}: {e}", src.display()));
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let gz = enc.write_all(&bytes).and_then(|_| enc.finish()).unwrap_or_else(|e| panic!("compressing {}: {e}", src.display()));
    let dest = out.join(rel).with_extension(format!("{}.gz", rel.extension().and_then(|e| e.to_str()).unwrap_or("")));
    std::fs::create_dir_all(dest.parent().unwrap_or(out)).unwrap_or_else(|e| panic!("creating {}: {e}", dest.display()));
    std::fs::write(&dest, gz).unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
}

fn walk(root: &Path, dir: &Path, out: &Path) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let rel = p.strip_prefix(root).unwrap_or(&p).to_path_buf();
        if rel.starts_with("test") || rel.starts_with("node_modules") {
            continue;
        }
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            compress(&p, &rel, out);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=web");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("web");
    walk(Path::new("web"), Path::new("web"), &out);
}
