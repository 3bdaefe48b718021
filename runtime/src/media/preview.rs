//! Bounded-size previews of images, made on the host with the `image`
//! crate under hard limits: the dimensions an image declares are checked
//! before anything is decoded, and decoding may allocate at most a fixed
//! number of bytes. A decompression bomb (a small file declaring a huge
//! image) is refused with an error naming its size and the limit.

use std::io::Cursor;

use image::{ImageError, ImageFormat, ImageReader, error::LimitErrorKind};

/// The limits a preview is made under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviewLimits {
    /// Largest width or height an image may declare, in pixels.
    pub max_side: u32,
    /// Largest width × height an image may declare.
    pub max_pixels: u64,
    /// Most bytes decoding may allocate.
    pub max_decode_bytes: u64,
    /// Longest side of a preview, in pixels.
    pub preview_side: u32,
}

impl Default for PreviewLimits {
    fn default() -> Self {
        PreviewLimits {
            max_side: 12_000,
            max_pixels: 50_000_000,
            max_decode_bytes: 256 << 20,
            preview_side: 320,
        }
    }
}

/// A preview: PNG bytes and their size in pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The PNG.
    pub png: Vec<u8>,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// Why an image was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    /// Its declared size is over the limits (a decompression bomb, or just
    /// too big to decode on the host).
    #[error(
        "the image is {width}×{height} pixels; the host decodes images of at most \
         {max_side} pixels a side and {max_pixels} pixels in all"
    )]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The side limit.
        max_side: u32,
        /// The area limit.
        max_pixels: u64,
    },
    /// Decoding it would take more memory than the host allows.
    #[error("decoding the image would take more than {0} bytes of memory, the host's limit")]
    TooMuchMemory(u64),
}

/// A preview of `bytes` (an image of one of the previewable types) at most
/// `limits.preview_side` a side; `Ok(None)` when the bytes do not decode
/// as an image (the file is then only a download). Runs for a while on
/// big images: call it off the async threads.
///
/// # Errors
///
/// [`PreviewError`] when the image is over the limits.
pub fn preview(bytes: &[u8], limits: PreviewLimits) -> Result<Option<Preview>, PreviewError> {
    let reader = || ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok();
    let Some(header) = reader() else { return Ok(None) };
    let Ok((width, height)) = header.into_dimensions() else {
        return Ok(None);
    };
    if width > limits.max_side || height > limits.max_side || u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(PreviewError::TooLarge {
            width,
            height,
            max_side: limits.max_side,
            max_pixels: limits.max_pixels,
        });
    }
    let Some(mut reader) = reader() else { return Ok(None) };
    let mut bounds = image::Limits::default();
    bounds.max_image_width = Some(limits.max_side);
    bounds.max_image_height = Some(limits.max_side);
    bounds.max_alloc = Some(limits.max_decode_bytes);
    reader.limits(bounds);
    let image = match reader.decode() {
        Ok(image) => image,
        Err(ImageError::Limits(e)) => {
            return Err(match e.kind() {
                LimitErrorKind::DimensionError => PreviewError::TooLarge {
                    width,
                    height,
                    max_side: limits.max_side,
                    max_pixels: limits.max_pixels,
                },
                _ => PreviewError::TooMuchMemory(limits.max_decode_bytes),
            });
        }
        Err(_) => return Ok(None),
    };
    let side = limits.preview_side.max(1);
    let small = if image.width() > side || image.height() > side {
        image.thumbnail(side, side)
    } else {
        image
    };
    let mut png = Vec::new();
    if small.write_to(&mut Cursor::new(&mut png), ImageFormat::Png).is_err() {
        return Ok(None);
    }
    Ok(Some(Preview {
        png,
        width: small.width(),
        height: small.height(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .expect("encode");
        out
    }

    #[test]
    fn a_big_photo_gets_a_small_preview_keeping_its_shape() {
        let made = preview(&png(1200, 600), PreviewLimits::default())
            .expect("ok")
            .expect("an image");
        assert_eq!((made.width, made.height), (320, 160));
        assert_eq!(&made.png[1..4], b"PNG");
        let small = preview(&png(40, 30), PreviewLimits::default())
            .expect("ok")
            .expect("an image");
        assert_eq!((small.width, small.height), (40, 30));
    }

    #[test]
    fn an_image_over_the_limits_is_refused_naming_its_size() {
        // (tests/tests/files.rs uploads a real decompression bomb.)
        let limits = PreviewLimits {
            max_side: 100,
            max_pixels: 5_000,
            ..PreviewLimits::default()
        };
        let err = preview(&png(200, 20), limits).expect_err("too wide");
        assert!(
            matches!(
                err,
                PreviewError::TooLarge {
                    width: 200,
                    height: 20,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("200×20") && err.to_string().contains("100 pixels a side"),
            "{err}"
        );
        let err = preview(&png(80, 80), limits).expect_err("too many pixels");
        assert!(matches!(err, PreviewError::TooLarge { .. }), "{err:?}");
        assert!(preview(&png(70, 70), limits).expect("fits").is_some());
    }

    #[test]
    fn bytes_that_are_not_an_image_get_no_preview() {
        assert_eq!(preview(b"%PDF-1.7", PreviewLimits::default()), Ok(None));
        let mut broken = png(50, 50);
        broken.truncate(60);
        assert_eq!(preview(&broken, PreviewLimits::default()), Ok(None));
    }
}
