//! What a client asks of an image, as Supabase's `/render/image` reads it from the query
//! (`width`, `height`, `resize`, `quality`, `format`), and the same written as one word that a
//! signed URL's token can carry.

use super::RenderError;

/// The smallest and largest width or height a client may ask for; others are clamped, as
/// Supabase clamps them.
pub const MIN_SIZE: u32 = 1;
/// See [`MIN_SIZE`].
pub const MAX_SIZE: u32 = 2500;
/// Quality when none is asked for (imgproxy's default, which Supabase uses).
pub const DEFAULT_QUALITY: u8 = 80;
const MIN_QUALITY: u8 = 20;
const MAX_QUALITY: u8 = 100;

/// How the image meets a requested width and height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// Fill the box, keeping the aspect ratio, and crop what falls outside (the default).
    Cover,
    /// Fit inside the box, keeping the aspect ratio.
    Contain,
    /// Stretch to the box exactly.
    Fill,
}

/// The format asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// None named: WebP where the client's `Accept` allows it, else the original's.
    Auto,
    /// The original's format.
    Origin,
    /// WebP.
    Webp,
}

/// One transformation of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transform {
    /// Target width, if any.
    pub width: Option<u32>,
    /// Target height, if any.
    pub height: Option<u32>,
    /// How to meet both.
    pub resize: Resize,
    /// Encoding quality, 20-100, for lossy formats.
    pub quality: u8,
    /// Output format.
    pub format: Format,
}

impl Default for Transform {
    fn default() -> Self {
        Self {
            width: None,
            height: None,
            resize: Resize::Cover,
            quality: DEFAULT_QUALITY,
            format: Format::Auto,
        }
    }
}

fn size(name: &str, value: &str) -> Result<Option<u32>, RenderError> {
    let number: i64 = value
        .trim()
        .parse()
        .map_err(|_| RenderError::InvalidParameter(format!("{name} must be a whole number")))?;
    // Supabase ignores 0 (its check is "truthy") and clamps the rest to its limits.
    Ok((number != 0).then(|| number.clamp(MIN_SIZE.into(), MAX_SIZE.into()) as u32))
}

impl Transform {
    /// Reads the transformation from query parameters; unknown parameters are someone else's
    /// (`token`, `download`).
    pub fn from_query<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, RenderError> {
        let mut transform = Self::default();
        for (name, value) in params {
            match name {
                "width" => transform.width = size("width", value)?,
                "height" => transform.height = size("height", value)?,
                "resize" => {
                    transform.resize = match value {
                        "cover" => Resize::Cover,
                        "contain" => Resize::Contain,
                        "fill" => Resize::Fill,
                        other => {
                            return Err(RenderError::InvalidParameter(format!(
                                "resize `{other}` is not one of cover, contain, fill"
                            )));
                        }
                    }
                }
                "quality" => {
                    let quality: u8 = value.trim().parse().map_err(|_| {
                        RenderError::InvalidParameter("quality must be 20 to 100".into())
                    })?;
                    if !(MIN_QUALITY..=MAX_QUALITY).contains(&quality) {
                        return Err(RenderError::InvalidParameter(
                            "quality must be 20 to 100".into(),
                        ));
                    }
                    transform.quality = quality;
                }
                "format" => {
                    transform.format = match value {
                        "origin" => Format::Origin,
                        "webp" => Format::Webp,
                        "avif" => {
                            return Err(RenderError::InvalidParameter(
                                "format avif is not offered by nimbus; use webp or origin".into(),
                            ));
                        }
                        other => {
                            return Err(RenderError::InvalidParameter(format!(
                                "format `{other}` is not one of origin, webp"
                            )));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(transform)
    }

    /// Reads storage-js' `transform` option (`{width, height, resize, quality, format}`), as
    /// `createSignedUrl` sends it.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, RenderError> {
        let object = value
            .as_object()
            .ok_or_else(|| RenderError::InvalidParameter("transform must be an object".into()))?;
        let pairs: Vec<(String, String)> = object
            .iter()
            .map(|(name, value)| {
                let text = match value {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (name.clone(), text)
            })
            .collect();
        Self::from_query(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
    }

    /// The transformation as one word of letters, digits, `-` and `_`, for a signed URL's
    /// token: `w100-h0-cover-q80-auto`.
    pub fn to_word(&self) -> String {
        let resize = match self.resize {
            Resize::Cover => "cover",
            Resize::Contain => "contain",
            Resize::Fill => "fill",
        };
        let format = match self.format {
            Format::Auto => "auto",
            Format::Origin => "origin",
            Format::Webp => "webp",
        };
        format!(
            "w{}-h{}-{resize}-q{}-{format}",
            self.width.unwrap_or(0),
            self.height.unwrap_or(0),
            self.quality
        )
    }

    /// The transformation [`Transform::to_word`] wrote (in either case).
    pub fn from_word(word: &str) -> Result<Self, RenderError> {
        let word = word.to_ascii_lowercase();
        let invalid = || RenderError::InvalidParameter("not a transformation".into());
        let parts: Vec<&str> = word.split('-').collect();
        let [width, height, resize, quality, format] = parts.as_slice() else {
            return Err(invalid());
        };
        let width = width.strip_prefix('w').ok_or_else(invalid)?;
        let height = height.strip_prefix('h').ok_or_else(invalid)?;
        let quality = quality.strip_prefix('q').ok_or_else(invalid)?;
        let format = if *format == "auto" {
            None
        } else {
            Some(*format)
        };
        let params = [
            ("width", width),
            ("height", height),
            ("resize", resize),
            ("quality", quality),
        ];
        Self::from_query(params.into_iter().chain(format.map(|f| ("format", f))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_clamped_as_supabase_clamps_them() {
        let t = Transform::from_query([("width", "4000"), ("height", "0")]).expect("valid");
        assert_eq!(t.width, Some(MAX_SIZE));
        assert_eq!(t.height, None);
        let t = Transform::from_query([("width", "-5")]).expect("valid");
        assert_eq!(t.width, Some(MIN_SIZE));
        assert!(Transform::from_query([("width", "wide")]).is_err());
        assert!(Transform::from_query([("quality", "5")]).is_err());
        assert!(Transform::from_query([("resize", "squash")]).is_err());
        assert!(Transform::from_query([("format", "avif")]).is_err());
    }

    #[test]
    fn a_transformation_survives_its_word_in_any_case() {
        let t = Transform::from_query([
            ("width", "100"),
            ("resize", "contain"),
            ("quality", "60"),
            ("format", "webp"),
            ("token", "ignored"),
        ])
        .expect("valid");
        assert_eq!(Transform::from_word(&t.to_word()).expect("word"), t);
        assert_eq!(
            Transform::from_word(&t.to_word().to_ascii_uppercase()).expect("upper"),
            t
        );
        assert_eq!(
            Transform::from_word(&Transform::default().to_word()).expect("default"),
            Transform::default()
        );
        assert!(Transform::from_word("w1-h2").is_err());
    }

    #[test]
    fn storage_js_transform_objects_are_read() {
        let json = serde_json::json!({ "width": 100, "height": 50, "resize": "fill" });
        let t = Transform::from_json(&json).expect("valid");
        assert_eq!(
            (t.width, t.height, t.resize),
            (Some(100), Some(50), Resize::Fill)
        );
    }
}
