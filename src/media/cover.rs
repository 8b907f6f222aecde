//! Cover images: recognise what an image really is (tags lie about MIME types), and scale
//! it down to a requested edge as JPEG. Decoding is bounded: a hostile or huge image gets
//! an error, never an unbounded allocation.

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

const MAX_EDGE: u32 = 16_384;
const MAX_ALLOC: u64 = 512 << 20;

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

/// Type and dimensions from the header alone (cheap; used at import).
pub fn inspect(bytes: &[u8]) -> Result<ImageInfo, CoverError> {
    let (fmt, mime) = sniff(bytes).ok_or(CoverError::NotAnImage)?;
    let (width, height) = reader(bytes, fmt).into_dimensions().map_err(|e| CoverError::Corrupt(e.to_string()))?;
    if width == 0 || height == 0 {
        return Err(CoverError::Corrupt("zero-sized image".into()));
    }
    Ok(ImageInfo { mime, width, height })
}

/// Scales the image so its longer edge is at most `edge` pixels, as JPEG (quality 85).
/// An image already small enough is re-encoded only if it is not a JPEG.
pub fn scale_to_jpeg(bytes: &[u8], edge: u32) -> Result<Vec<u8>, CoverError> {
    let (fmt, _) = sniff(bytes).ok_or(CoverError::NotAnImage)?;
    let img = reader(bytes, fmt).decode().map_err(|e| match e {
        image::ImageError::Limits(l) => CoverError::TooLarge(l.to_string()),
        other => CoverError::Corrupt(other.to_string()),
    })?;
    if fmt == ImageFormat::Jpeg && img.width().max(img.height()) <= edge {
        return Ok(bytes.to_vec());
    }
    let img = if img.width().max(img.height()) > edge {
        img.resize(edge, edge, image::imageops::FilterType::Lanczos3)
    } else {
        img
    };
    let mut out = Vec::new();
    let rgb = image::DynamicImage::ImageRgb8(img.to_rgb8());
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
    rgb.write_with_encoder(enc).map_err(|e| CoverError::Corrupt(e.to_string()))?;
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
    fn junk_is_an_error() {
        assert!(matches!(inspect(b"definitely not an image"), Err(CoverError::NotAnImage)));
        let mut p = png(32, 32);
        p.truncate(60);
        assert!(scale_to_jpeg(&p, 16).is_err());
    }
}
