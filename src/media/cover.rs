//! Cover images: recognise what an image really is (tags lie about MIME types), and scale
//! it down as JPEG to the few edges covers are served at ([`snap`]), all from one decode.
//! Decoding is bounded: an image over [`MAX_PIXELS`] (a 12000×12000 PNG is 420 kB and would
//! decode to ~430 MB) is refused from its header, before any pixel is decoded, and scaling
//! allocates only the decoded image and its small copies.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

#[derive(Debug, thiserror::Error)]
pub enum CoverError {
    #[error("not a supported image (JPEG, PNG, GIF or WebP)")]
    NotAnImage,
    #[error("image too large to scale: {0}")]
    TooLarge(String),
    #[error("image cannot be decoded: {0}")]
    Corrupt(String),
}

/// What an image's bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Far above real covers (3000×3000 is large), far below what makes a decode costly:
/// 6000×6000 RGBA is 144 MB; the decoders' own allocations are capped at [`MAX_ALLOC`].
pub const MAX_PIXELS: u64 = 36_000_000;
const MAX_EDGE: u32 = 12_000;
const MAX_ALLOC: u64 = 160 << 20;

/// The edges covers are served at: a request for `n` pixels gets the smallest of these that
/// is at least `n` (capped at `max`), so that every size of one image comes from one decode
/// and one small set of cached files.
pub const EDGES: [u32; 6] = [64, 128, 256, 512, 800, 1200];

/// The served edge for a request of `n` pixels, given the configured largest edge.
pub fn snap(n: u32, max: u32) -> u32 {
    EDGES.iter().copied().find(|&e| e >= n && e <= max).unwrap_or(max).max(16)
}

fn sniff(bytes: &[u8]) -> Option<(ImageFormat, &'static str)> {
    match image::guess_format(bytes).ok()? {
        ImageFormat::Jpeg => Some((ImageFormat::Jpeg, "image/jpeg")),
        ImageFormat::Png => Some((ImageFormat::Png, "image/png")),
        ImageFormat::Gif => Some((ImageFormat::Gif, "image/gif")),
        ImageFormat::WebP => Some((ImageFormat::WebP, "image/webp")),
        _ => None,
    }
}

fn reader(bytes: &[u8], fmt: ImageFormat) -> ImageReader<Cursor<&[u8]>> {
    let mut r = ImageReader::with_format(Cursor::new(bytes), fmt);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_EDGE);
    limits.max_image_height = Some(MAX_EDGE);
    limits.max_alloc = Some(MAX_ALLOC);
    r.limits(limits);
    r
}

/// Type and dimensions from the header alone (cheap; used at import). An image over
/// [`MAX_PIXELS`] is refused.
pub fn inspect(bytes: &[u8]) -> Result<ImageInfo, CoverError> {
    let (fmt, mime) = sniff(bytes).ok_or(CoverError::NotAnImage)?;
    let (width, height) = reader(bytes, fmt).into_dimensions().map_err(|e| CoverError::Corrupt(e.to_string()))?;
    if width == 0 || height == 0 {
        return Err(CoverError::Corrupt("zero-sized image".into()));
    }
    // Imported covers are kept only if they can be served: a bomb is no cover at all.
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(CoverError::TooLarge(format!("{width}×{height} pixels (at most {MAX_PIXELS})")));
    }
    Ok(ImageInfo { mime, width, height })
}

/// Scales the image so its longer edge is at most `edge` pixels, as JPEG (quality 85).
/// An image already small enough is re-encoded only if it is not a JPEG.
pub fn scale_to_jpeg(bytes: &[u8], edge: u32) -> Result<Vec<u8>, CoverError> {
    scale_to_jpegs(bytes, &[edge]).map(|mut v| v.remove(0).1)
}

/// Decodes the image once and scales it to each of `edges` (longer edge at most that), as
/// JPEG (quality 85). An image already small enough is re-encoded only if not a JPEG.
pub fn scale_to_jpegs(bytes: &[u8], edges: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, CoverError> {
    let (fmt, _) = sniff(bytes).ok_or(CoverError::NotAnImage)?;
    // The header first: a bomb is refused before its pixels are decoded.
    let (w, h) = reader(bytes, fmt).into_dimensions().map_err(|e| match e {
        image::ImageError::Limits(l) => CoverError::TooLarge(l.to_string()),
        other => CoverError::Corrupt(other.to_string()),
    })?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(CoverError::TooLarge(format!("{w}×{h} pixels (at most {MAX_PIXELS})")));
    }
    let img = reader(bytes, fmt).decode().map_err(|e| match e {
        image::ImageError::Limits(l) => CoverError::TooLarge(l.to_string()),
        other => CoverError::Corrupt(other.to_string()),
    })?;
    let mut out = Vec::with_capacity(edges.len());
    for &edge in edges {
        let longest = img.width().max(img.height());
        if fmt == ImageFormat::Jpeg && longest <= edge {
            out.push((edge, bytes.to_vec()));
            continue;
        }
        // `thumbnail` averages areas in integer arithmetic into the output buffer alone
        // (a Lanczos resize of a large image allocated several times the image).
        let small = if longest > edge { img.thumbnail(edge, edge) } else { img.clone() };
        let mut jpeg = Vec::new();
        let rgb = image::DynamicImage::ImageRgb8(small.to_rgb8());
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85);
        rgb.write_with_encoder(enc).map_err(|e| CoverError::Corrupt(e.to_string()))?;
        out.push((edge, jpeg));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn inspects_and_scales() {
        let p = png(640, 480);
        assert_eq!(inspect(&p).unwrap(), ImageInfo { mime: "image/png", width: 640, height: 480 });
        let j = scale_to_jpeg(&p, 64).unwrap();
        let info = inspect(&j).unwrap();
        assert_eq!((info.mime, info.width, info.height), ("image/jpeg", 64, 48));
    }

    #[test]
    fn bombs_are_refused_from_the_header_and_sizes_snap() {
        // 12000×12000 gray, a few hundred kB compressed.
        let img = image::GrayImage::new(12_000, 12_000);
        let mut bomb = Vec::new();
        image::DynamicImage::ImageLuma8(img).write_to(&mut Cursor::new(&mut bomb), ImageFormat::Png).unwrap();
        assert!(bomb.len() < 1_000_000);
        assert!(matches!(scale_to_jpeg(&bomb, 300), Err(CoverError::TooLarge(_))));
        assert_eq!((snap(1, 1200), snap(64, 1200), snap(65, 1200), snap(300, 1200), snap(5000, 1200)), (64, 64, 128, 512, 1200));
        assert_eq!(snap(900, 1000), 1000);
        let p = png(640, 480);
        let all = scale_to_jpegs(&p, &[64, 256, 1200]).unwrap();
        let dims: Vec<_> = all.iter().map(|(_, j)| inspect(j).map(|i| (i.width, i.height)).unwrap()).collect();
        assert_eq!(dims, [(64, 48), (256, 192), (640, 480)]);
    }

    #[test]
    fn junk_is_an_error() {
        assert!(matches!(inspect(b"definitely not an image"), Err(CoverError::NotAnImage)));
        let mut p = png(32, 32);
        p.truncate(60);
        assert!(scale_to_jpeg(&p, 16).is_err());
    }
}
