//! Secrets in the settings: each read from exactly one of an inline value and a `*_file`, and
//! kept wrapped (`SecretString`) so that neither `Debug` nor a log line can print it.

use std::path::Path;

use secrecy::SecretString;

use super::ConfigError;

/// Reads a secret from exactly one of an inline value and a file, trimming the file's line end.
pub(crate) fn secret_from(
    key: &str,
    inline: Option<&SecretString>,
    file: Option<&Path>,
) -> Result<Option<SecretString>, ConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            key,
            format!("set either `{key}` or `{key}_file`, not both"),
        )),
        (Some(secret), None) => Ok(Some(secret.clone())),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(
                    format!("{key}_file"),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            Ok(Some(SecretString::from(
                text.trim_end_matches(['\r', '\n']),
            )))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn secret_files_are_read_and_trimmed_and_exclusive_with_inline_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key");
        std::fs::write(&path, "seam_file_key\n").expect("write");
        let secret = secret_from("seam.api_key", None, Some(&path))
            .expect("reads")
            .expect("present");
        assert_eq!(secret.expose_secret(), "seam_file_key");
        let inline = SecretString::from("x");
        let err = secret_from("seam.api_key", Some(&inline), Some(&path)).expect_err("both");
        assert!(err.to_string().contains("not both"));
    }
}
